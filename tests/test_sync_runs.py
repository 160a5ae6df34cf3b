"""The run record as the operator sees it: written ``running`` when a sync starts,
closed as ``abandoned`` once its worker no longer holds the lease, and overwritten
by the real outcome only while the fence lets that worker write, on SQLite and
PostgreSQL; ``stridewise status`` shows each account's last run."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sync_support import WalkerSource, overlapping_runs, seed_accounts, stored_minutes
from test_cli import invoker
from test_sync_engine import Clock, account, context, runs

from ingest.db import transaction
from ingest.models import LinkedAccount
from ingest.sync.claims import claim_due, close_abandoned, release
from ingest.sync.engine import sync_account
from ingest.sync.runner import run_with
from stridewise.settings import Settings

LEASE = timedelta(seconds=60)


class Stalling(WalkerSource):
    """A source that, mid-fetch, lets the world move on as it would while this
    worker stalled: ``meanwhile()`` runs before the data is returned."""

    def __init__(self, meanwhile) -> None:
        super().__init__()
        self.meanwhile = meanwhile

    def fetch(self, account_ref, window, scope=None):
        self.meanwhile()
        return super().fetch(account_ref, window, scope)


def die() -> None:
    raise SystemExit("worker died")  # what the engine cannot catch, as a killed process


def test_a_run_is_visible_while_it_runs(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    seen = []
    clock = Clock()
    source = Stalling(lambda: seen.extend(runs(factory, account_id)))
    [result] = run_with(context(factory, source, clock), 1).results
    [during] = seen
    assert (during.outcome, during.worker, during.finished_at) == ("running", "w1", None)
    assert during.started_at == clock.now and during.id == result.run_id
    [after] = runs(factory, account_id)  # the same row, now with its outcome
    assert (after.id, after.outcome, after.finished_at) == (during.id, "success", clock.now)
    assert after.intervals_written == result.intervals_written > 0


def test_a_stalled_worker_that_still_finishes_records_its_real_outcome(factory, cipher):
    """The sweep marks the run abandoned once the lease has run out; nobody took the
    account, so the fence still lets the worker finish, and its outcome stands."""
    [account_id] = seed_accounts(factory, cipher, 1)
    clock = Clock()
    swept = []
    source = Stalling(lambda: swept.append(close_abandoned(factory, clock.now + 2 * LEASE)))
    [result] = run_with(context(factory, source, clock), 1).results
    assert swept == [1] and result.outcome == "success"
    [run] = runs(factory, account_id)
    assert (run.outcome, run.error_kind, run.finished_at) == ("success", None, clock.now)
    assert account(factory, account_id).synced_through is not None


def test_a_stalled_worker_whose_account_was_taken_leaves_the_mark(factory, cipher):
    """Another worker took the account after the lease ran out: the stalled one's
    writes are fenced off, so its run stays abandoned and none of its rows land."""
    [account_id] = seed_accounts(factory, cipher, 1)
    clock = Clock()
    later = clock.now + 2 * LEASE

    def taken_over() -> None:
        assert close_abandoned(factory, later) == 1
        assert [c.id for c in claim_due(factory, "w2", later, 1, 60)] == [account_id]

    [result] = run_with(context(factory, Stalling(taken_over), clock), 1).results
    assert (result.outcome, result.error_kind) == ("lease_lost", "lease_lost")
    mine, theirs = runs(factory, account_id)
    assert (mine.outcome, mine.worker, mine.finished_at) == ("abandoned", "w1", later)
    assert (theirs.outcome, theirs.worker) == ("running", "w2")  # w2's claim's run
    assert account(factory, account_id).lease_owner == "w2"
    with factory() as session:
        assert stored_minutes(session, "P00000") == []


def test_a_claim_records_the_run_and_giving_the_claim_back_removes_it(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    clock = Clock()
    [claimed] = claim_due(factory, "w1", clock.now, 1, 60)
    [run] = runs(factory, account_id)
    assert (run.id, run.outcome, run.worker, run.started_at) == (
        claimed.run_id, "running", "w1", clock.now)  # fmt: skip
    assert run.window_start is None and run.finished_at is None  # known once it runs
    release(factory, [claimed], "w1")
    assert runs(factory, account_id) == [] and account(factory, account_id).lease_owner is None


def test_a_queued_claim_whose_lease_was_taken_writes_nothing(factory, cipher):
    [account_id] = seed_accounts(factory, cipher, 1)
    clock = Clock()
    [stale] = claim_due(factory, "w1", clock.now, 1, 60)
    [taken] = claim_due(factory, "w2", clock.now + 2 * LEASE, 1, 60)
    assert close_abandoned(factory, clock.now + 2 * LEASE) == 1
    result = sync_account(context(factory, WalkerSource(), clock), stale)
    assert (result.outcome, result.run_id) == ("lease_lost", stale.run_id)
    outcomes = {r.id: (r.outcome, r.worker) for r in runs(factory, account_id)}
    assert outcomes == {stale.run_id: ("abandoned", "w1"), taken.run_id: ("running", "w2")}
    with factory() as session:
        assert stored_minutes(session, "P00000") == []


def test_the_sweep_closes_only_runs_whose_worker_lost_the_lease(factory, cipher):
    ids = seed_accounts(factory, cipher, 3)
    clock = Clock()
    # Three syncs die right after recording their runs, with leases of 60, 120, 180 s.
    for n, account_id in enumerate(ids, start=1):
        [claimed] = claim_due(factory, f"w{n}", clock.now, 1, 60 * n)
        assert claimed.id == account_id
        ctx = context(factory, Stalling(die), clock, worker=f"w{n}", lease_seconds=60 * n)
        with pytest.raises(SystemExit):
            sync_account(ctx, claimed)
    assert close_abandoned(factory, clock.now + timedelta(seconds=59)) == 0
    assert close_abandoned(factory, clock.now + timedelta(seconds=150)) == 2
    outcomes = [runs(factory, i)[0].outcome for i in ids]
    assert outcomes == ["abandoned", "abandoned", "running"]
    assert close_abandoned(factory, clock.now + timedelta(seconds=150)) == 0  # closed once
    with factory() as session:
        assert overlapping_runs(session) == []


def test_status_shows_each_accounts_last_run(db_url, factory, cipher):
    ids = seed_accounts(factory, cipher, 2)
    clock = Clock()
    run_with(context(factory, WalkerSource(), clock), 2)
    [crashed] = claim_due(factory, "gone", clock.now, 1, 60, patient_id="P00001", force=True)
    dying = context(factory, Stalling(die), clock, worker="gone")
    with pytest.raises(SystemExit):
        sync_account(dying, crashed)
    close_abandoned(factory, clock.now + 2 * LEASE)
    result = invoker(Settings(database_url=db_url))("status")
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.startswith("│ P0")}  # fmt: skip
    assert "success" in rows["P00000"] and "abandoned" not in rows["P00000"]
    assert "abandoned" in rows["P00001"] and "gone" in rows["P00001"]  # its lease still holds
    assert len(ids) == len(rows)
    with transaction(factory) as session:  # the dead worker's lease runs out
        session.execute(update(LinkedAccount).values(lease_expires=clock.now - LEASE))
    later = invoker(Settings(database_url=db_url))("status").output
    assert "gone" not in later  # an expired lease names no worker
