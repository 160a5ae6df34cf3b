"""Fault tests: the real adapters against their sandboxes over loopback HTTP,
the real write path on SQLite and PostgreSQL. Each checks that every expected
interval is stored exactly once, that no account was synced by two workers at
once, that none was starved, and that failing accounts did not hold up the
healthy ones beyond the concurrency limit."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sync_support import overlapping_runs, seed_accounts
from sync_worlds import WORLDS, local_days

from ingest.models import LinkedAccount, StepIntervalRow, SyncRun
from stridewise.settings import Settings
from stridewise.wiring import run_cycle, sources_for

ZONES = ("Europe/Oslo", "America/New_York", "Asia/Kathmandu", "Pacific/Auckland")
BACKFILL_DAYS = 2


@pytest.fixture(params=sorted(WORLDS))
def world(request):
    return WORLDS[request.param]()


@pytest.fixture
def served(world):
    with world.serving() as urls:
        yield urls


def settings_for(db_url: str, secret_key: str, urls: dict, **overrides) -> Settings:
    values = {
        "database_url": db_url,
        "secret_key": secret_key,
        # Every window is then yesterday and today: what the expectations cover.
        "sync_backfill_days": BACKFILL_DAYS,
        "sync_lookback_days": BACKFILL_DAYS - 1,
        "garmin_lookback_days": BACKFILL_DAYS - 1,
        "provisional_settle_hours": 24,
        "sync_concurrency": 4,
        "sync_base_backoff_seconds": 5,
        "sync_max_backoff_seconds": 20,
        "sync_jitter_seconds": 1,
        "sync_lease_seconds": 60,
        **urls,
    }
    return Settings(**(values | overrides))


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def stored_by_day(factory, provider: str) -> dict[tuple[str, object], tuple[int, int]]:
    with factory() as session:
        rows = session.execute(
            select(
                StepIntervalRow.patient_id,
                StepIntervalRow.local_date,
                func.count(),
                func.sum(StepIntervalRow.steps),
            )
            .where(StepIntervalRow.provider == provider)
            .group_by(StepIntervalRow.patient_id, StepIntervalRow.local_date)
        ).all()
    return {(p, d): (n, s) for p, d, n, s in rows}


def expected_by_day(world, patients: dict[str, str]) -> dict[tuple[str, object], tuple[int, int]]:
    out = {}
    for patient_id, zone in patients.items():
        for day, figures in world.expected(patient_id, local_days(zone, BACKFILL_DAYS)).items():
            out[(patient_id, day)] = figures
    return out


def seed(world, factory, cipher, count: int) -> dict[str, str]:
    """Patient id -> zone for ``count`` linked sandbox users."""
    seed_accounts(factory, cipher, count, world.provider, ZONES, link=world.link)
    return {f"P{i:05d}": ZONES[i % len(ZONES)] for i in range(count)}


def test_bursts_of_faults_across_many_accounts(world, served, factory, db_url, secret_key, cipher):
    patients = seed(world, factory, cipher, 24)
    ids = sorted(patients)
    rate_limited, broken, malformed = ids[0:4], ids[4:8], ids[8:12]
    for p in rate_limited:
        retry_after = world.rate_limit(p, times=2)
    for p in broken:
        world.server_error(p)
    for p in malformed:
        world.malformed(p)
    healthy = set(ids[12:])
    settings = settings_for(db_url, secret_key, served)
    sources = sources_for(factory, settings)
    clock = Clock()

    first = run_cycle(factory, settings, "w1", sources=sources, clock=clock)
    by_patient = {r.patient_id: r for r in first.results}
    assert set(by_patient) == set(ids)  # every account attempted in the first cycle
    assert {p for p, r in by_patient.items() if r.outcome == "success"} == healthy
    assert {by_patient[p].error_kind for p in rate_limited} == {"rate_limited"}
    assert {by_patient[p].error_kind for p in broken} == {"transient"}
    assert all(by_patient[p].outcome == "failed" for p in malformed)
    with factory() as session:
        due = dict(
            session.execute(select(LinkedAccount.patient_id, LinkedAccount.next_sync_due)).all()
        )
    # Retry-After when the provider sent one, else the first back-off step (>= base / 2)
    assert all((due[p] - clock.now).total_seconds() >= (retry_after or 2.5) for p in rate_limited)
    # Failing accounts cost their slot one call, never the healthy ones' time:
    # no healthy sync took longer than the slowest failing one plus its own work.
    slowest_healthy = max(by_patient[p].seconds for p in healthy)
    assert slowest_healthy < 5

    for _ in range(4):  # back-off is at most 20 s; let the clock pass it
        clock.now += timedelta(seconds=25)
        run_cycle(factory, settings, "w1", sources=sources, clock=clock)

    with factory() as session:
        states = {a.patient_id: a for a in session.scalars(select(LinkedAccount))}
        assert overlapping_runs(session) == []
        failures_seen = dict(
            session.execute(
                select(LinkedAccount.patient_id, func.count())
                .join(SyncRun, SyncRun.account_id == LinkedAccount.id)
                .where(SyncRun.outcome == "failed")
                .group_by(LinkedAccount.patient_id)
            ).all()
        )
    assert all(a.last_success_at is not None for a in states.values())
    assert all(a.consecutive_failures == 0 and a.status == "active" for a in states.values())
    assert all(failures_seen[p] == 2 for p in rate_limited)
    assert all(failures_seen[p] == 1 for p in broken + malformed)
    assert not healthy & set(failures_seen)
    assert stored_by_day(factory, world.provider) == expected_by_day(world, patients)


def test_a_revoked_link_among_healthy_ones(world, served, factory, db_url, secret_key, cipher):
    patients = seed(world, factory, cipher, 8)
    revoked = "P00003"
    world.revoke(revoked)
    world.expire_tokens(revoked)
    settings = settings_for(db_url, secret_key, served)
    sources = sources_for(factory, settings)
    clock = Clock()
    report = run_cycle(factory, settings, "w1", sources=sources, clock=clock)
    outcomes = {r.patient_id: (r.outcome, r.error_kind) for r in report.results}
    assert outcomes.pop(revoked) == ("failed", "auth_revoked")
    assert set(outcomes.values()) == {("success", None)}
    with factory() as session:
        link = session.scalars(
            select(LinkedAccount).where(LinkedAccount.patient_id == revoked)
        ).one()
    assert (link.status, link.last_error_kind, link.next_sync_due) == (
        "needs_relink", "auth_revoked", None)  # fmt: skip

    # No more attempts until relinked, however often the scheduler ticks.
    calls = sources.get(world.provider)
    for _ in range(3):
        clock.now += timedelta(hours=1)
        later = run_cycle(factory, settings, "w1", sources=sources, clock=clock)
        assert revoked not in {r.patient_id for r in later.results}
    assert calls is sources.get(world.provider)
    with factory() as session:
        runs_of_revoked = session.scalar(
            select(func.count())
            .select_from(SyncRun)
            .join(LinkedAccount, SyncRun.account_id == LinkedAccount.id)
            .where(LinkedAccount.patient_id == revoked)
        )
    assert runs_of_revoked == 1
    expected = expected_by_day(world, {p: z for p, z in patients.items() if p != revoked})
    assert stored_by_day(factory, world.provider) == expected


def test_token_refreshes_racing_in_two_workers(world, served, factory, db_url, secret_key, cipher):
    """Every access token has expired; two workers share the accounts. Each account
    refreshes exactly once (refresh tokens rotate: a double refresh would revoke)."""
    patients = seed(world, factory, cipher, 16)
    for p in patients:
        world.expire_tokens(p)
    settings = settings_for(db_url, secret_key, served)
    before = world.refreshes()
    reports = {}
    barrier = threading.Barrier(2)

    def worker(name: str) -> None:
        sources = sources_for(factory, settings)  # each worker its own adapter
        barrier.wait()
        reports[name] = run_cycle(factory, settings, name, sources=sources)

    threads = [threading.Thread(target=worker, args=(n,)) for n in ("wa", "wb")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    results = [r for report in reports.values() for r in report.results]
    assert sorted(r.patient_id for r in results) == sorted(patients)  # each exactly once
    assert {r.outcome for r in results} == {"success"}
    assert world.refreshes() - before == len(patients)
    with factory() as session:
        assert overlapping_runs(session) == []
        versions = set(session.scalars(select(LinkedAccount.credentials_version)))
    assert versions == {2}  # the refreshed tokens were stored, once
    assert stored_by_day(factory, world.provider) == expected_by_day(world, patients)


@contextmanager
def silent_host() -> Iterator[str]:
    """A host that accepts connections (the kernel completes them) and never answers."""
    with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_provider_that_never_answers_frees_every_slot_in_time(
    world, served, factory, db_url, secret_key, cipher
):
    patients = seed(world, factory, cipher, 6)  # more accounts than sync slots (4)
    with silent_host() as url:
        api = {"garmin": "garmin_api_url", "google-health": "google_health_api_url"}
        settings = settings_for(db_url, secret_key, served | {api[world.provider]: url},
                                provider_timeout_seconds=0.5)  # fmt: skip
        started = time.monotonic()
        report = run_cycle(factory, settings, "w1")
        took = time.monotonic() - started
    assert sorted(r.patient_id for r in report.results) == sorted(patients)
    assert {(r.outcome, r.error_kind) for r in report.results} == {("failed", "transient")}
    assert took < 15  # two rounds of 0.5 s timeouts, not the 30 s default
    with factory() as session:
        accounts = session.scalars(select(LinkedAccount)).all()
    assert all(a.lease_owner is None and a.next_sync_due is not None for a in accounts)
