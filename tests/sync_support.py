"""Helpers shared by the sync tests: a clinic of linked accounts seeded in bulk,
a walker-backed step source (an injected seam, not a patched module), and the
checks every fault test makes on what was stored and how runs overlapped."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session, sessionmaker

from core.schema import DailyTotal, StepBatch, StepInterval
from core.source import AccountRef, DateWindow, FetchResult, MinuteScope
from ingest.crypto import Cipher
from ingest.db import make_engine, session_factory, upgrade
from ingest.models import LinkedAccount, Patient, StepIntervalRow, SyncRun, Therapist
from sandbox.walker import DayShape, Walker

SHORT_DAY = DayShape(wear_hours=(9, 12))  # a few hours of minutes: keeps tests fast


@contextmanager
def sqlite_file_db(folder) -> Iterator[tuple[str, sessionmaker[Session]]]:
    """A migrated SQLite file in ``folder`` that CLI processes share with the test:
    its URL and a session factory."""
    db_url = f"sqlite:///{folder}/cli.db"
    engine = make_engine(db_url)
    upgrade(engine)
    try:
        yield db_url, session_factory(engine)
    finally:
        engine.dispose()


def seed_accounts(
    factory: sessionmaker[Session],
    cipher: Cipher,
    count: int,
    provider: str = "google-health",
    zones: tuple[str | None, ...] = ("Europe/Oslo",),
    link: Callable[[str, str | None], tuple[dict, str | None]] | None = None,
    prefix: str = "P",
) -> list[int]:
    """``count`` patients with one active, due link each; returns the account ids.
    ``link(patient_id, zone)`` gives each link's credentials and external user id."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    ids = [f"{prefix}{i:05d}" for i in range(count)]
    zone_of = {pid: zones[i % len(zones)] for i, pid in enumerate(ids)}
    shared = cipher.encrypt_json({"access_token": "test"})
    links = {pid: link(pid, zone_of[pid]) if link else None for pid in ids}
    with factory() as session, session.begin():
        if session.get(Therapist, "T1") is None:
            session.add(Therapist(id="T1", name="Dr Test", email="t1@example.org"))
            session.flush()
        session.execute(
            insert(Patient),
            [
                {"id": pid, "name": f"Patient {pid}", "timezone": zone_of[pid],
                 "therapist_id": "T1", "overrides": {}}
                for pid in ids
            ],
        )  # fmt: skip
        session.execute(
            insert(LinkedAccount),
            [
                {"patient_id": pid, "provider": provider,
                 "credentials": cipher.encrypt_json(links[pid][0]) if links[pid] else shared,
                 "external_user_id": links[pid][1] if links[pid] else None,
                 "credentials_version": 1, "status": "active", "next_sync_due": now,
                 "consecutive_failures": 0, "created_at": now, "updated_at": now}
                for pid in ids
            ],
        )  # fmt: skip
        return list(
            session.scalars(
                select(LinkedAccount.id)
                .where(LinkedAccount.patient_id.in_(ids))
                .order_by(LinkedAccount.id)
            )
        )


def walker_batch(
    walker: Walker, account: AccountRef, window: DateWindow, today: date | None, shape: DayShape
) -> StepBatch:
    """The minutes the walker wore on each day of ``window``, as a provider would
    report them; today's total is provisional."""
    batch = StepBatch()
    zone = account.timezone or "UTC"
    day = window.first
    while day <= window.last:
        minutes = walker.day(account.patient_id, day, zone, shape)
        batch.intervals.extend(
            StepInterval(
                account.patient_id,
                account.provider,
                "Charge 6",
                m.start_utc,
                m.start_utc + timedelta(minutes=1),
                m.utc_offset_s,
                m.steps,
            )
            for m in minutes
        )
        batch.daily_totals.append(
            DailyTotal(
                account.patient_id,
                account.provider,
                day,
                sum(m.steps for m in minutes),
                provisional=day == today,
            )
        )
        day += timedelta(days=1)
    return batch


class WalkerSource:
    """A StepSource for engine tests that need no HTTP: the walker's minutes,
    with scripted errors per patient (raised in order, one per fetch)."""

    provider = "google-health"

    def __init__(
        self,
        errors: dict[str, list[Exception]] | None = None,
        delay_s: float = 0.0,
        shape: DayShape = SHORT_DAY,
        skipped: dict[str, list[str]] | None = None,
    ) -> None:
        self.walker = Walker(seed=11)
        self.errors = errors or {}
        self.delay_s = delay_s
        self.shape = shape
        self.skipped = skipped or {}
        self.fetches: list[tuple[int, DateWindow]] = []
        self.in_flight = self.peak_in_flight = 0
        self._lock = threading.Lock()

    def fetch(
        self, account: AccountRef, window: DateWindow, scope: MinuteScope | None = None
    ) -> FetchResult:
        """The whole window whatever ``scope`` says (reading more is always safe)."""
        with self._lock:
            self.fetches.append((account.account_id, window))
            script = self.errors.get(account.patient_id)
            error = script.pop(0) if script else None
            self.in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
        finally:
            with self._lock:
                self.in_flight -= 1
        if error is not None:
            raise error
        batch = walker_batch(self.walker, account, window, window.last, self.shape)
        return FetchResult(batch, list(self.skipped.get(account.patient_id, [])), window.days)


def expected_minutes(patient_id: str, zone: str, days: list[date], shape=SHORT_DAY) -> set:
    walker = Walker(seed=11)
    return {
        (m.start_utc, m.steps) for day in days for m in walker.day(patient_id, day, zone, shape)
    }


def stored_minutes(session: Session, patient_id: str) -> list[tuple[datetime, int]]:
    return [
        tuple(row)
        for row in session.execute(
            select(StepIntervalRow.start_utc, StepIntervalRow.steps).where(
                StepIntervalRow.patient_id == patient_id
            )
        )
    ]


def overlapping_runs(session: Session) -> list[tuple[int, str, str]]:
    """(account, worker, worker) for any two runs of one account that overlapped in
    time; a run still ``running`` lasts until now."""
    runs = defaultdict(list)
    for account_id, start, end, worker in session.execute(
        select(SyncRun.account_id, SyncRun.started_at, SyncRun.finished_at, SyncRun.worker)
    ):
        runs[account_id].append((start, end or datetime.max.replace(tzinfo=UTC), worker))
    overlaps = []
    for account_id, spans in runs.items():
        spans.sort()
        for (_s1, e1, w1), (s2, _e2, w2) in pairwise(spans):
            if s2 < e1:
                overlaps.append((account_id, w1, w2))
    return overlaps


def run_counts(session: Session) -> dict[int, int]:
    return dict(
        session.execute(select(SyncRun.account_id, func.count()).group_by(SyncRun.account_id)).all()
    )
