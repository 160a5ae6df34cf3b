"""Routine syncs fetch only what can have changed, and still miss nothing.

Real HTTP to both sandboxes, both databases, the real engine: a routine sync
reads minutes from the newest one already read less an overlap; a late upload into
an older day is caught by the day's moved total (Google's roll-up, Garmin's running totals), a
change no total shows by a webhook naming it or by the daily (or an on-demand)
full read; and over many syncs at random instants against data that keeps
arriving late, no interval is lost or doubled."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
from garmin_support import link_patient, new_user
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from portal_support import WEBHOOK_SECRET
from sqlalchemy import func, select
from sync_support import WalkerSource, seed_accounts, sqlite_file_db
from sync_worlds import GoogleWorld as GoogleSyncWorld
from test_provider_contract import garmin_served, google_served  # noqa: F401 (fixtures)
from test_sync_cli import base_env, run

from adapters.garmin import GarminAdapter
from adapters.google_health import GoogleHealthAdapter
from core.errors import Transient
from core.schema import StepBatch, StepInterval
from core.source import MinuteScope
from ingest.credentials import CredentialStore
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import LinkedAccount, StepIntervalRow, Therapist
from ingest.patients import add_patient
from ingest.store import write_batch
from ingest.sync.backoff import BackoffPolicy
from ingest.sync.engine import Sources, SyncContext, SyncResult
from ingest.sync.push import mark_changed, mark_due, request_full_read
from ingest.sync.runner import run_with
from ingest.sync.window import WindowPolicy, minutes_since
from sandbox.garmin import GarminSandbox
from sandbox.garmin import sandbox_settings as garmin_hosts
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import sandbox_settings as google_hosts
from sandbox.google_push import GooglePusher
from sandbox.serve import serve_in_thread
from stridewise.providers import garmin_config, google_config
from stridewise.settings import Settings
from stridewise.web.app import create_app as web_app
from stridewise.wiring import App

NEW_YORK = "America/New_York"
NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)  # 11:07 in New York
TODAY = date(2026, 3, 10)
STEP = timedelta(minutes=15)
MINUTE = timedelta(minutes=1)
POLICY = WindowPolicy(backfill_days=3, lookback_days=2, overlap_minutes=30, full_read_hours=24)
_ids = itertools.count()


class GoogleWorld:
    provider = "google-health"

    def __init__(self, state: GoogleSandboxState, url: str, factory, cipher, http) -> None:
        self.state, self.url, self.factory, self.cipher, self.http = (
            state, url, factory, cipher, http
        )  # fmt: skip
        self.now = NOW
        state.clock = lambda: self.now

    def link(self) -> None:
        self.patient_id = _patient(self.factory, "G")
        self.user = self.state.add_user(self.patient_id, time_zone=NEW_YORK)
        tokens = self.state.stored_credentials(self.patient_id)
        with transaction(self.factory) as session:
            link_account(session, self.cipher, self.patient_id, self.provider, tokens,
                         self.user.health_user_id)  # fmt: skip

    def upload_until(self, moment: datetime | None) -> None:
        self.user.uploaded_through = moment

    def truth(self, day: date) -> tuple[int, int]:
        """(intervals, steps) the provider holds for ``day`` now."""
        points = self.state.day_points(self.user, day)
        return len(points), sum(p.steps for p in points)

    def adapter(self) -> GoogleHealthAdapter:
        config = google_config(Settings(**google_hosts(self.url, self.state)))
        vault = CredentialStore(self.factory, self.cipher)
        return GoogleHealthAdapter(config, vault, self.http, clock=lambda: self.now)


class GarminWorld:
    provider = "garmin"

    def __init__(self, sandbox: GarminSandbox, url: str, factory, cipher, http) -> None:
        self.sandbox, self.url, self.factory, self.cipher = sandbox, url, factory, cipher
        self.now = NOW
        sandbox.clock = lambda: self.now

    def link(self) -> None:
        self.user = new_user(tz=NEW_YORK)
        account = link_patient(self.factory, self.cipher, self.sandbox, self.user)
        self.patient_id = account.patient_id

    def upload_until(self, moment: datetime | None) -> None:
        self.user.last_sync = moment

    def truth(self, day: date) -> tuple[int, int]:
        buckets = [
            b
            for b in self.sandbox.buckets(self.user, day)
            if b["primaryActivityLevel"] != "none" or b["steps"]
        ]
        return len(buckets), sum(b["steps"] for b in buckets)

    def adapter(self) -> GarminAdapter:
        settings = Settings(**garmin_hosts(self.url))
        vault = CredentialStore(self.factory, self.cipher)
        return GarminAdapter(garmin_config(settings), vault, clock=lambda: self.now)

    def chart_days(self) -> list[str]:
        """The dates whose 15-minute buckets were asked for, in order."""
        return [c.rsplit("date=", 1)[-1] for c in self.sandbox.calls if "dailySummaryChart" in c]


def _patient(factory, prefix: str) -> str:
    patient_id = f"{prefix}{next(_ids):04d}"
    with transaction(factory) as session:
        if session.get(Therapist, "T1") is None:
            session.add(Therapist(id="T1", name="Dr Gait", email="t1@example.org"))
            session.flush()
        add_patient(session, patient_id, "Pat", NEW_YORK, "T1")
    return patient_id


@pytest.fixture(scope="module")
def http():
    with httpx.Client(timeout=5.0) as client:
        yield client


def make_world(request, provider: str, factory, cipher, http):
    if provider == "garmin":
        world = GarminWorld(*request.getfixturevalue("garmin_served"), factory, cipher, http)
    else:
        world = GoogleWorld(*request.getfixturevalue("google_served"), factory, cipher, http)
    world.link()
    return world


@pytest.fixture(params=["google-health", "garmin"])
def world(request, factory, cipher, http):
    return make_world(request, request.param, factory, cipher, http)


@pytest.fixture
def google(request, factory, cipher, http):
    return make_world(request, "google-health", factory, cipher, http)


def sync(world) -> SyncResult:
    """One sync of the world's account by the real engine, at the world's now."""
    adapter = world.adapter()
    ctx = SyncContext(world.factory, Sources(lambda _provider: adapter), "w", window=POLICY,
                      backoff=BackoffPolicy(jitter_s=0), clock=lambda: world.now)  # fmt: skip
    [result] = run_with(ctx, 1, patient_id=world.patient_id, force=True).results
    assert result.outcome == "success", result
    return result


def stored(world) -> dict[date, tuple[int, int]]:
    """(intervals, steps) per local date as stored."""
    with world.factory() as session:
        rows = session.execute(
            select(StepIntervalRow.local_date, func.count(), func.sum(StepIntervalRow.steps))
            .where(StepIntervalRow.patient_id == world.patient_id)
            .group_by(StepIntervalRow.local_date)
        ).all()
    return {day: (count, steps) for day, count, steps in rows}


def truth(world, first: date, last: date = TODAY) -> dict[date, tuple[int, int]]:
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return {day: world.truth(day) for day in days if world.truth(day)[0]}


def matches_provider(world) -> bool:
    """What is stored is what the provider holds, on every day the syncs reached
    (Garmin's own look-back reaches a day further back than the first back-fill)."""
    days = stored(world)
    return min(days) <= TODAY - timedelta(days=2) and days == truth(world, min(days), max(days))


def local(day: date, hour: int) -> datetime:
    return datetime.combine(day, time(hour), ZoneInfo(NEW_YORK)).astimezone(UTC)


def test_a_routine_sync_reads_only_the_last_minutes(world):
    first = sync(world)
    world.now += STEP
    sync(world)  # Garmin's look-back reaches one day further: that day is new here
    asked = len(world.chart_days()) if world.provider == "garmin" else 0
    world.now += STEP
    routine = sync(world)

    assert first.full_read and not routine.full_read
    assert matches_provider(world)
    if world.provider == "garmin":  # per-day buckets: today's, whose running total moved
        assert world.chart_days()[asked:] == [TODAY.isoformat()]
    else:  # the newest minute read last time less the 30-minute overlap
        assert 0 < routine.points_fetched <= 45
        assert routine.points_fetched * 10 < first.points_fetched


def test_a_late_upload_into_an_older_day_is_read_when_its_total_moves(world):
    """Garmin's running totals and Google's roll-ups: the day is read again."""
    two_days_ago = TODAY - timedelta(days=2)
    world.upload_until(local(two_days_ago, 13))  # the watch has not synced since
    sync(world)
    for _ in range(3):
        world.now += STEP
        assert not sync(world).full_read
    before = stored(world)
    assert max(before) == two_days_ago

    world.upload_until(None)  # the watch uploads two and a half days at once
    world.now += STEP
    late = sync(world)

    assert not late.full_read
    assert matches_provider(world)
    assert stored(world)[two_days_ago][1] > before[two_days_ago][1]


def _revise_two_minutes(google: GoogleWorld, day: date) -> tuple[datetime, datetime]:
    """Move five steps between two stored minutes of ``day``: no total moves."""
    points = [p for p in google.state.day_points(google.user, day) if p.steps >= 5]
    give, take = points[0], points[-1]
    google.user.revised.update({give.start: give.steps + 5, take.start: take.steps - 5})
    return give.start, take.start


def _steps_at(google: GoogleWorld, starts) -> dict[datetime, int]:
    with google.factory() as session:
        rows = session.execute(
            select(StepIntervalRow.start_utc, StepIntervalRow.steps).where(
                StepIntervalRow.patient_id == google.patient_id,
                StepIntervalRow.start_utc.in_(list(starts)),
            )
        )
        return dict(rows.all())


def test_a_change_no_total_shows_is_read_after_its_webhook(google, db_url, secret_key):
    sync(google)
    google.now += STEP
    sync(google)
    yesterday = TODAY - timedelta(days=1)
    starts = _revise_two_minutes(google, yesterday)
    google.now += STEP
    assert not sync(google).full_read
    assert _steps_at(google, starts) != {s: google.user.revised[s] for s in starts}  # missed

    app = App(Settings(database_url=db_url, secret_key=secret_key,
                       google_webhook_secret=WEBHOOK_SECRET))  # fmt: skip
    with serve_in_thread(web_app(app)) as web_url:
        pusher = GooglePusher(google.state, web_url + "/webhooks/google-health", WEBHOOK_SECRET)
        body = pusher.notification(google.patient_id, min(starts), max(starts) + STEP)
        assert pusher.push(body) == 200
    google.now += STEP
    read = sync(google)

    assert not read.full_read
    assert _steps_at(google, starts) == {s: google.user.revised[s] for s in starts}
    assert matches_provider(google)
    with google.factory() as session:  # read, so the next routine sync is short again
        assert session.scalar(select(LinkedAccount.changed_from)) is None
    google.now += STEP
    assert sync(google).points_fetched <= 45


@pytest.mark.parametrize("trigger", ["a day later", "on demand"])
def test_a_change_no_total_shows_is_read_by_the_full_read(google, trigger):
    sync(google)
    yesterday = TODAY - timedelta(days=1)
    starts = _revise_two_minutes(google, yesterday)
    google.now += STEP
    assert not sync(google).full_read
    assert _steps_at(google, starts) != {s: google.user.revised[s] for s in starts}

    if trigger == "on demand":
        with transaction(google.factory) as session:
            assert request_full_read(session, google.patient_id) == 1
        google.now += STEP
    else:
        google.now = NOW + timedelta(hours=24)
    full = sync(google)

    assert full.full_read
    assert _steps_at(google, starts) == {s: google.user.revised[s] for s in starts}
    google.now += STEP
    assert not sync(google).full_read  # and routine again after it


@pytest.mark.parametrize("provider", ["google-health", "garmin"])
@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    syncs=st.lists(
        st.tuples(
            st.integers(min_value=1, max_value=150),  # minutes since the previous sync
            st.integers(min_value=0, max_value=360),  # how far the watch's upload lags
        ),
        min_size=2,
        max_size=9,
    )
)
def test_many_routine_syncs_lose_and_double_nothing(
    request, provider, factory, cipher, http, syncs
):
    """Syncs at random instants over most of a day (past local midnight too) while
    the watch uploads late by random amounts: once it has uploaded everything, what
    is stored is exactly what the provider holds, interval for interval."""
    world = make_world(request, provider, factory, cipher, http)
    uploaded = NOW - timedelta(hours=6)
    world.upload_until(uploaded)
    first = sync(world)
    for gap, lag in syncs:
        world.now += timedelta(minutes=gap)
        uploaded = max(uploaded, world.now - timedelta(minutes=lag))
        world.upload_until(uploaded)
        assert not sync(world).full_read
    world.now += STEP
    world.upload_until(world.now)  # the watch catches up
    sync(world)

    assert first.full_read
    days = stored(world)
    assert days == truth(world, min(days), max(days)), syncs


# -- the engine's bookkeeping (the walker source: no HTTP needed) ---------------------
class RecordingSource(WalkerSource):
    """Records each fetch's scope; ``during`` runs inside the fetch (mid-sync)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.scopes: list[MinuteScope | None] = []
        self.during: Callable[[], None] | None = None

    def fetch(self, account, window, scope=None):
        self.scopes.append(scope)
        if self.during:
            self.during()
        result = super().fetch(account, window, scope)
        result.data_through = max((i.end for i in result.batch.intervals), default=None)
        return result


def _engine_ctx(factory, source, clock) -> SyncContext:
    return SyncContext(factory, Sources(lambda _provider: source), "w", window=POLICY,
                       backoff=BackoffPolicy(jitter_s=0), clock=clock)  # fmt: skip


def _account(factory, account_id: int) -> LinkedAccount:
    with factory() as session:
        return session.get(LinkedAccount, account_id)


def test_the_cursor_moves_only_with_a_successful_sync(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    source = RecordingSource(errors={"P00000": [Transient("down")]})
    clock = {"now": datetime.now(UTC) + timedelta(seconds=1)}
    ctx = _engine_ctx(factory, source, lambda: clock["now"])
    changed = clock["now"] - timedelta(hours=5)
    with transaction(factory) as session:
        assert mark_changed(session, "P00000", "google-health", changed) == 1

    [failed] = run_with(ctx, 1, force=True).results
    assert failed.outcome == "failed"
    after_failure = _account(factory, account_id)
    assert (after_failure.synced_until, after_failure.full_read_at) == (None, None)
    assert after_failure.changed_from == changed

    [full] = run_with(ctx, 1, force=True).results
    clock["now"] += STEP
    [routine] = run_with(ctx, 1, force=True).results
    assert full.full_read and not routine.full_read
    # The failed run's account was backing off, so the webhook's change was kept one
    # sync longer; the routine sync read from it, and then it was done with.
    assert source.scopes[0] is None and source.scopes[1] is None
    assert source.scopes[2].since == changed
    state = _account(factory, account_id)
    assert state.synced_until == min(routine.data_through, routine.started_at)
    assert state.full_read_at == full.started_at
    assert state.changed_from is None


def test_a_webhook_while_a_sync_runs_is_kept_for_the_next(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    source = RecordingSource()
    clock = {"now": datetime.now(UTC) + timedelta(seconds=1)}
    ctx = _engine_ctx(factory, source, lambda: clock["now"])
    run_with(ctx, 1, force=True)  # the first, full read
    changed = clock["now"] - timedelta(hours=2)

    def webhook() -> None:  # arrives after this sync asked the provider
        with transaction(factory) as session:
            mark_changed(session, "P00000", "google-health", changed)
            mark_due(session, "P00000", now=clock["now"])

    source.during = webhook
    clock["now"] += STEP
    run_with(ctx, 1, force=True)
    source.during = None
    assert source.scopes[1].since > changed
    assert _account(factory, account_id).changed_from == changed

    clock["now"] += STEP
    run_with(ctx, 1, force=True)
    assert source.scopes[2].since == changed
    assert _account(factory, account_id).changed_from is None


def test_minutes_since_the_last_start_less_the_overlap():
    policy = WindowPolicy(backfill_days=30, overlap_minutes=30, full_read_hours=24)
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    last, full = now - STEP, now - timedelta(hours=3)
    overlap = last - timedelta(minutes=30)
    assert minutes_since(now, last, None, full, policy) == overlap
    assert minutes_since(now, last, now - STEP, full, policy) == overlap  # within it
    assert minutes_since(now, last, now - 9 * STEP, full, policy) == now - 9 * STEP
    horizon = now - timedelta(days=30)
    assert minutes_since(now, last, now - timedelta(days=90), full, policy) == horizon
    assert minutes_since(now, None, None, full, policy) is None  # never synced
    assert minutes_since(now, last, None, None, policy) is None  # asked for (--full)
    assert minutes_since(now, last, None, now - timedelta(hours=24), policy) is None  # daily


def test_a_partial_fetch_of_a_day_keeps_the_rest_of_its_rows(factory, patient):
    """Routine syncs write part of a day (its last minutes): the write path must
    upsert those and leave the day's other stored intervals as they are."""
    start = local(TODAY, 8)
    minutes = [
        StepInterval(patient, "google-health", "Charge 6", start + n * MINUTE,
                     start + (n + 1) * MINUTE, -4 * 3600, 10 + n)
        for n in range(120)
    ]  # fmt: skip
    with transaction(factory) as session:
        write_batch(session, StepBatch(intervals=minutes))
    tail = [replace(m, steps=m.steps + 1) for m in minutes[90:]]  # the last 30, revised
    tail.append(replace(minutes[-1], start=minutes[-1].end, end=minutes[-1].end + MINUTE))
    with transaction(factory) as session:
        report = write_batch(session, StepBatch(intervals=tail))

    assert report.intervals_changed == 31
    with factory() as session:
        rows = dict(session.execute(select(StepIntervalRow.start_utc, StepIntervalRow.steps)).all())
    assert len(rows) == 121
    assert rows == {m.start: m.steps for m in minutes[:90]} | {t.start: t.steps for t in tail}


def test_sync_full_on_the_command_line_reads_the_whole_look_back(tmp_path, secret_key, cipher):
    world = GoogleSyncWorld()
    with sqlite_file_db(tmp_path) as (db_url, factory), world.serving() as urls:
        seed_accounts(factory, cipher, 2, "google-health", ("Europe/Oslo",), link=world.link)
        env = base_env(db_url, STRIDEWISE_SECRET_KEY=secret_key,
                       **{f"STRIDEWISE_{k.upper()}": v for k, v in urls.items()})  # fmt: skip
        first = run(["sync", "--all"], env)
        before = {a.patient_id: a.full_read_at for a in _accounts(factory)}
        full = run(["sync", "--full", "--patient", "P00001"], env)
        after = {a.patient_id: a.full_read_at for a in _accounts(factory)}

    assert first.returncode == 0 and full.returncode == 0, full.stderr
    assert "1 accounts" in full.stdout
    assert after["P00000"] == before["P00000"]  # not asked for, not synced
    assert after["P00001"] > before["P00001"]


def _accounts(factory) -> list[LinkedAccount]:
    with factory() as session:
        return list(session.scalars(select(LinkedAccount)))
