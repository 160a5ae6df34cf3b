"""Leases, the engine's write ordering, outcomes and run records, on SQLite and
PostgreSQL, with a walker-backed step source injected in place of an adapter."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, time, timedelta
from itertools import product

import pytest
from sqlalchemy import func, select, update
from sync_support import (
    WalkerSource,
    expected_minutes,
    overlapping_runs,
    seed_accounts,
    stored_minutes,
)

from core.errors import AuthRevoked, BadData, RateLimited, Transient
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import DailyTotalRow, LinkedAccount, StepIntervalRow, SyncRun
from ingest.sync.backoff import BackoffPolicy
from ingest.sync.claims import LeaseLost, claim_due, close_abandoned, count_claimable, renew
from ingest.sync.engine import Sources, SyncContext, sync_account
from ingest.sync.push import mark_due
from ingest.sync.runner import run_with
from ingest.sync.window import WindowPolicy, local_today

ZONE = "Europe/Oslo"
HOUR = timedelta(hours=1)


class Clock:
    """A settable clock a little ahead of real time (rows seeded 'now' are due)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC) + timedelta(seconds=1)

    def __call__(self) -> datetime:
        return self.now


def context(factory, source, clock=None, worker="w1", **policy) -> SyncContext:
    return SyncContext(
        factory=factory,
        sources=Sources(lambda _provider: source),
        worker=worker,
        window=WindowPolicy(backfill_days=policy.pop("backfill_days", 3), lookback_days=1,
                            settle_hours=0),
        backoff=BackoffPolicy(interval_s=900, base_s=60, max_s=3600, jitter_s=10),
        lease_seconds=policy.pop("lease_seconds", 60),
        clock=clock or Clock(),
    )  # fmt: skip


def account(factory, account_id) -> LinkedAccount:
    with factory() as session:
        return session.get(LinkedAccount, account_id)


def runs(factory, account_id) -> list[SyncRun]:
    with factory() as session:
        return list(
            session.scalars(
                select(SyncRun).where(SyncRun.account_id == account_id).order_by(SyncRun.id)
            )
        )


def sync_once(ctx, **claim):
    claimed = claim_due(ctx.factory, ctx.worker, ctx.clock(), 10, ctx.lease_seconds, **claim)
    assert claimed, "expected a due account"
    return [sync_account(ctx, c) for c in claimed]


def test_claims_take_each_due_account_once_and_skip_leased_and_relink(factory, cipher):
    ids = seed_accounts(factory, cipher, 6)
    with transaction(factory) as session:
        session.execute(
            update(LinkedAccount).where(LinkedAccount.id == ids[0]).values(status="needs_relink")
        )
        future = datetime.now(UTC) + timedelta(hours=1)
        session.execute(
            update(LinkedAccount).where(LinkedAccount.id == ids[1]).values(next_sync_due=future)
        )
    now = datetime.now(UTC) + timedelta(seconds=1)
    first = claim_due(factory, "a", now, 3, 60)
    second = claim_due(factory, "b", now, 10, 60)
    assert [c.id for c in first] == ids[2:5]
    assert [c.id for c in second] == ids[5:]
    assert claim_due(factory, "c", now, 10, 60) == []
    # forced (operator) claims take the not-yet-due account, never a leased one
    assert [c.id for c in claim_due(factory, "c", now, 10, 60, force=True)] == [ids[1]]
    # an expired lease is free again
    later = now + timedelta(seconds=61)
    assert {c.id for c in claim_due(factory, "d", later, 10, 60)} == set(ids[2:])
    assert account(factory, ids[2]).lease_owner == "d"


@pytest.mark.parametrize(("force", "expected"), [(False, 4), (True, 6)], ids=["due", "forced"])
def test_the_sync_progress_total_counts_what_a_claim_takes(factory, cipher, force, expected):
    """``stridewise sync`` sizes its bar with count_claimable: statuses, leases and due
    times (never synced yet included) count exactly as claim_due takes them."""
    now = datetime.now(UTC) + timedelta(seconds=1)
    leases = {"free": None, "expired": now - timedelta(seconds=1), "live": now + HOUR}
    dues = {"never": None, "past": now - timedelta(minutes=1), "future": now + HOUR}
    states = list(product(("active", "needs_relink"), leases, dues))
    ids = seed_accounts(factory, cipher, len(states))
    with transaction(factory) as session:
        for account_id, (status, lease, due) in zip(ids, states, strict=True):
            session.execute(
                update(LinkedAccount)
                .where(LinkedAccount.id == account_id)
                .values(status=status, lease_owner=lease if leases[lease] else None,
                        lease_expires=leases[lease], next_sync_due=dues[due])
            )  # fmt: skip
    leased_patient = account(factory, ids[states.index(("active", "live", "past"))]).patient_id

    assert count_claimable(factory, now, patient_id=leased_patient, force=force) == 0
    counted = count_claimable(factory, now, force=force)
    assert counted == len(claim_due(factory, "w", now, 100, 60, force=force)) == expected
    assert count_claimable(factory, now, force=force) == 0  # all claimed now


def test_a_stale_worker_cannot_write_after_its_lease_was_taken(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    now = datetime.now(UTC) + timedelta(seconds=1)
    claim_due(factory, "slow", now, 1, 30)
    claim_due(factory, "fast", now + timedelta(seconds=31), 1, 30)
    with pytest.raises(LeaseLost), transaction(factory) as session:
        renew(session, account_id, "slow", now, 30, now.date())
    assert account(factory, account_id).synced_through is None


def test_skip_locked_claims_across_threads_never_share_an_account(engine, factory, cipher):
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent claimers need PostgreSQL (SQLite has one writer)")
    ids = seed_accounts(factory, cipher, 300)
    now = datetime.now(UTC) + timedelta(seconds=1)
    got: dict[str, list[int]] = {}
    sizes: list[int] = []
    barrier = threading.Barrier(8)

    def claimer(name: str) -> None:
        barrier.wait()
        mine = got.setdefault(name, [])
        while batch := claim_due(factory, name, now, 7, 60):
            mine.extend(c.id for c in batch)
            sizes.append(len(batch))

    threads = [threading.Thread(target=claimer, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [i for mine in got.values() for i in mine]
    assert sorted(claimed) == ids  # each exactly once
    assert sum(1 for mine in got.values() if mine) > 1  # and they really raced
    # No claim took more than its limit: racing claimers once leased far more when
    # the planner re-ran the SKIP LOCKED pick per row (see ingest.db.leasable).
    assert max(sizes) <= 7, sorted(sizes)[-5:]
    with factory() as session:
        owners = dict(session.execute(select(LinkedAccount.id, LinkedAccount.lease_owner)).all())
    assert all(owners[i] == name for name, mine in got.items() for i in mine)


def test_first_sync_backfills_writes_once_and_advances_the_cursor(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1, zones=(ZONE,))
    source = WalkerSource()
    clock = Clock()
    # Midday in Oslo tomorrow (after the accounts fell due): both syncs on one local day.
    clock.now = datetime.combine(clock.now.date() + timedelta(days=1), time(11), UTC)
    ctx = context(factory, source, clock)
    [result] = sync_once(ctx)
    today = local_today(clock.now, ZONE)
    days = [today - timedelta(days=d) for d in range(3)]
    assert result.outcome == "success"
    assert (result.window.first, result.window.last) == (days[-1], today)
    with factory() as session:
        stored = stored_minutes(session, "P00000")
    assert len(stored) == len(set(stored)) == result.intervals_written
    assert set(stored) == expected_minutes("P00000", ZONE, days)
    row = account(factory, account_id)
    assert row.synced_through == today and row.lease_owner is None
    assert row.last_success_at == clock.now and row.consecutive_failures == 0
    assert 900 <= (row.next_sync_due - clock.now).total_seconds() <= 910
    [run] = runs(factory, account_id)
    assert (run.outcome, run.window_start, run.window_end, run.worker) == (
        "success", days[-1], today, "w1")  # fmt: skip
    assert run.intervals_written == len(stored) and run.totals_written == 3
    assert run.api_calls == 3 and run.finished_at >= run.started_at

    # Next sync: the look-back only, and re-reading it changes nothing.
    clock.now += timedelta(minutes=16)
    [again] = sync_once(ctx)
    assert again.window.first == today - timedelta(days=1)
    assert again.intervals_written == 0 and again.totals_written == 0
    with factory() as session:
        assert len(stored_minutes(session, "P00000")) == len(stored)


def test_a_provisional_day_is_read_again_until_it_is_final(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1, zones=(ZONE,))
    clock = Clock()
    today = local_today(clock.now, ZONE)
    ctx = context(factory, WalkerSource(), clock)
    with transaction(factory) as session:
        session.execute(
            update(LinkedAccount).where(LinkedAccount.id == account_id).values(synced_through=today)
        )
        session.add(DailyTotalRow(patient_id="P00000", provider="google-health",
                                  local_date=today - timedelta(days=2), steps=5,
                                  provisional=True))  # fmt: skip
    [result] = sync_once(ctx)
    assert result.window.first == today - timedelta(days=2)
    with factory() as session:
        still = session.scalar(select(func.count()).where(DailyTotalRow.provisional.is_(True)))
    assert still == 1  # only today's running total is provisional now


@pytest.mark.parametrize("crash_at", [1, 2, 3])
def test_a_crash_between_days_loses_nothing_and_repeats_only_the_rest(factory, cipher, crash_at):
    """The clock is read once per committed day; making it fail on the n-th read
    stops the sync exactly there, as a crash would."""
    [account_id] = seed_accounts(factory, cipher, 1, zones=(ZONE,))
    base = Clock()
    reads = {"n": 0}

    def crashing_clock():
        reads["n"] += 1
        if reads["n"] == crash_at + 1:  # first read is the window's "now"
            raise SystemExit("worker died")
        return base.now

    source = WalkerSource()
    ctx = context(factory, source, crashing_clock, lease_seconds=30)
    claimed = claim_due(factory, "w1", base.now, 1, 30)
    with pytest.raises(SystemExit):
        sync_account(ctx, claimed[0])
    today = local_today(base.now, ZONE)
    days = [today - timedelta(days=d) for d in (2, 1, 0)]
    committed = days[: crash_at - 1]
    row = account(factory, account_id)
    assert row.synced_through == (committed[-1] if committed else None)
    with factory() as session:
        assert set(stored_minutes(session, "P00000")) == expected_minutes("P00000", ZONE, committed)
    # The dead worker's run is visible as running, and stays so while its lease lasts.
    [crashed] = runs(factory, account_id)
    assert (crashed.outcome, crashed.worker, crashed.finished_at) == ("running", "w1", None)
    assert crashed.started_at == base.now and crashed.window_start is None  # not known yet
    assert close_abandoned(factory, base.now + timedelta(seconds=29)) == 0

    # Another worker's cycle, once the lease has run out, closes it and finishes the job.
    base.now += timedelta(seconds=31)
    ctx2 = context(factory, source, base, worker="w2")
    [result] = run_with(ctx2, 1).results
    assert result.outcome == "success"
    abandoned, finished = runs(factory, account_id)
    assert (abandoned.outcome, abandoned.error_kind, abandoned.worker) == (
        "abandoned", "lease_expired", "w1")  # fmt: skip
    assert abandoned.finished_at == base.now and "lease ran out" in abandoned.error
    assert (finished.outcome, finished.worker) == ("success", "w2")
    with factory() as session:
        assert overlapping_runs(session) == []
    lookback = today - timedelta(days=1)
    assert result.window.first == (
        min(committed[-1] + timedelta(days=1), lookback) if committed else days[0]
    )
    with factory() as session:
        stored = stored_minutes(session, "P00000")
    assert len(stored) == len(set(stored))
    assert set(stored) == expected_minutes("P00000", ZONE, days)


def test_outcomes_set_backoff_health_and_relink(factory, cipher):
    ids = seed_accounts(factory, cipher, 5, zones=(ZONE,))
    source = WalkerSource(
        errors={
            "P00000": [RateLimited("429", retry_after=120)],
            "P00001": [Transient("503"), Transient("503")],
            "P00002": [AuthRevoked("invalid_grant")],
            "P00003": [BadData("not JSON")],
        },
        skipped={"P00004": ["point 3: count 'abc' is not a number"]},
    )
    clock = Clock()
    ctx = context(factory, source, clock)
    results = {r.patient_id: r for r in sync_once(ctx)}
    assert {p: (r.outcome, r.error_kind) for p, r in results.items()} == {
        "P00000": ("failed", "rate_limited"),
        "P00001": ("failed", "transient"),
        "P00002": ("failed", "auth_revoked"),
        "P00003": ("failed", "bad_data"),
        "P00004": ("partial", None),
    }
    rows = {i: account(factory, i) for i in ids}
    wait = {
        i: (r.next_sync_due - clock.now).total_seconds() for i, r in rows.items() if r.next_sync_due
    }
    assert 120 <= wait[ids[0]] <= 130  # Retry-After plus jitter
    assert 30 <= wait[ids[1]] <= 60  # first back-off step
    revoked = rows[ids[2]]
    assert (revoked.status, revoked.last_error_kind, revoked.next_sync_due) == (
        "needs_relink", "auth_revoked", None)  # fmt: skip
    assert revoked.updated_at == clock.now
    assert rows[ids[1]].consecutive_failures == 1 and rows[ids[4]].consecutive_failures == 0
    partial = runs(factory, ids[4])[0]
    assert partial.rejected == 1 and "abc" in partial.error
    assert partial.intervals_written > 0

    # The transient one fails again: the back-off doubles; then it recovers.
    clock.now += timedelta(seconds=61)
    [again] = sync_once(ctx, patient_id="P00001")
    row = account(factory, ids[1])
    assert again.outcome == "failed" and row.consecutive_failures == 2
    assert 60 <= (row.next_sync_due - clock.now).total_seconds() <= 120
    clock.now += timedelta(seconds=121)
    sync_once(ctx, patient_id="P00001")
    row = account(factory, ids[1])
    assert (row.consecutive_failures, row.last_error_kind) == (0, None)

    # The revoked link is never claimed, even by force, until relinked.
    clock.now += timedelta(hours=2)
    assert claim_due(factory, "w1", clock.now, 10, 60, patient_id="P00002", force=True) == []
    with transaction(factory) as session:
        link_account(session, cipher, "P00002", "google-health", {"access_token": "new"})
    [relinked] = sync_once(ctx, patient_id="P00002")
    assert relinked.outcome == "success"
    assert account(factory, ids[2]).status == "active"


def test_a_push_during_a_sync_keeps_the_account_due(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    clock = Clock()
    ctx = context(factory, WalkerSource(), clock)
    [claimed] = claim_due(factory, "w1", clock.now, 1, 60)
    with transaction(factory) as session:
        assert mark_due(session, "P00000", now=clock.now) == 1
    sync_account(ctx, claimed)
    assert account(factory, account_id).next_sync_due == clock.now
    # ...but a push never defeats a back-off
    with transaction(factory) as session:
        later = clock.now + timedelta(hours=1)
        session.execute(update(LinkedAccount).values(consecutive_failures=1, next_sync_due=later))
        assert mark_due(session, "P00000", now=clock.now) == 0


def test_failing_accounts_do_not_hold_up_healthy_ones(factory, cipher):
    """Slow failures take their slot only; healthy accounts finish on the other slots,
    and every account is attempted once per cycle (none starved)."""
    ids = seed_accounts(factory, cipher, 24, zones=(ZONE,))
    bad = {f"P{i:05d}" for i in range(0, 24, 6)}
    source = WalkerSource(errors={p: [Transient("timeout")] for p in bad}, delay_s=0.2)
    ctx = context(factory, source)
    report = run_with(ctx, concurrency=4)
    assert sorted(r.account_id for r in report.results) == ids
    assert report.outcomes == {"success": 20, "failed": 4}
    assert source.peak_in_flight == 4  # the limit is used, never exceeded
    # 24 fetches of 200 ms on 4 slots: about 6 rounds (1.2 s), far from 24 in a row.
    assert report.seconds < 24 * 0.2 * 0.75
    with factory() as session:
        assert overlapping_runs(session) == []
        assert session.scalar(select(func.count()).select_from(StepIntervalRow)) > 0


def test_a_stopping_cycle_finishes_running_syncs_and_claims_no_more(factory, cipher):
    ids = seed_accounts(factory, cipher, 12)
    stop = threading.Event()
    ctx = context(factory, WalkerSource(delay_s=0.05))
    report = run_with(ctx, 2, on_result=lambda _r: stop.set(), stopping=stop.is_set)
    assert report.outcomes == {"success": 2}  # the two running ones finished
    with factory() as session:
        held = session.scalar(select(func.count()).where(LinkedAccount.lease_owner.is_not(None)))
    assert held == 0  # queued claims were handed back, not left to expire
    rest = claim_due(factory, "w2", ctx.clock(), 20, 60)
    assert len(rest) == len(ids) - 2


class LateUploads(WalkerSource):
    """An adapter whose devices upload late (an optional attribute adapters may set)."""

    lookback_days = 3


class ShortHistory(WalkerSource):
    """An adapter whose provider serves only two days back (optional attribute)."""

    max_history_days = 2


def test_an_adapter_can_lengthen_the_lookback_and_limit_the_history(factory, cipher):
    seed_accounts(factory, cipher, 2, zones=(ZONE,))
    clock = Clock()
    today = local_today(clock.now, ZONE)
    short = context(factory, ShortHistory(), clock, backfill_days=30)
    [first] = sync_once(short, patient_id="P00000")
    assert (first.window.first, first.window.last) == (today - timedelta(days=1), today)

    late = context(factory, LateUploads(), clock, backfill_days=1)
    [backfill] = sync_once(late, patient_id="P00001")
    assert backfill.window.first == today
    clock.now += timedelta(minutes=16)
    [again] = sync_once(late, patient_id="P00001")
    assert again.window.first == today - timedelta(days=3)  # the adapter's 3, not the engine's 1
