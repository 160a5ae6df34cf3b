"""Real ``stridewise worker`` processes against one PostgreSQL database and a
sandbox on loopback: replicas share the accounts without overlap, and a worker
killed with SIGKILL mid-sync loses nothing (its leases run out, another takes over)
and leaves its unfinished runs visible until they are closed as abandoned."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sync_support import overlapping_runs, seed_accounts
from sync_worlds import WORLDS
from test_sync_faults import ZONES, expected_by_day, settings_for, stored_by_day

from ingest.models import LinkedAccount, SyncRun
from stridewise.wiring import run_cycle, sources_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

STRIDEWISE = str(Path(sys.executable).with_name("stridewise"))


@pytest.fixture
def pg_only(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("worker processes share one PostgreSQL database")


def env_for(settings) -> dict:
    """The worker's settings as its environment (how a replica is configured)."""
    env = dict(os.environ)
    for name, value in settings.model_dump().items():
        if name.startswith(("sync_", "garmin_", "google_", "provisional_")) or name in (
            "database_url",
        ):
            env[f"STRIDEWISE_{name.upper()}"] = str(value)
    env["STRIDEWISE_SECRET_KEY"] = settings.secret_key.get_secret_value()
    env["STRIDEWISE_LOG_FORMAT"] = "json"
    env["STRIDEWISE_LOG_LEVEL"] = "WARNING"
    return env


def start_worker(settings, log: Path) -> subprocess.Popen:
    with log.open("ab") as stderr:
        return subprocess.Popen(
            [STRIDEWISE, "worker"],
            env=env_for(settings),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )


def stop(process: subprocess.Popen, log: Path) -> str:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    return log.read_text(errors="replace")


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def succeeded(factory) -> set[int]:
    with factory() as session:
        return set(session.scalars(select(SyncRun.account_id).where(SyncRun.outcome == "success")))


def running_runs(factory) -> dict[int, int]:
    """Run id -> account id of every run still marked running."""
    with factory() as session:
        return dict(
            session.execute(
                select(SyncRun.id, SyncRun.account_id).where(SyncRun.outcome == "running")
            ).all()
        )


def slowed(app, path: str, seconds: float):
    """The sandbox app with every request to ``path`` answered ``seconds`` late."""

    async def wrapper(scope, receive, send):
        if scope["type"] == "http" and path in scope["path"]:
            await asyncio.sleep(seconds)
        await app(scope, receive, send)

    return wrapper


@pytest.fixture(params=sorted(WORLDS))
def world(request):
    return WORLDS[request.param]()


def test_two_worker_processes_share_500_accounts(
    pg_only, world, factory, db_url, secret_key, cipher, tmp_path
):
    with world.serving() as urls:
        seed_accounts(factory, cipher, 500, world.provider, ZONES, link=world.link)
        patients = {f"P{i:05d}": ZONES[i % len(ZONES)] for i in range(500)}
        failing = sorted(patients)[::25]  # 20 accounts whose provider keeps failing
        for p in failing:
            world.server_error(p, times=10_000)
        settings = settings_for(db_url, secret_key, urls, sync_tick_seconds=0.2,
                                sync_concurrency=8)  # fmt: skip
        with factory() as session:
            ids = dict(session.execute(select(LinkedAccount.patient_id, LinkedAccount.id)).all())
        healthy = {ids[p] for p in patients if p not in failing}

        started = time.monotonic()
        logs = [tmp_path / f"worker{n}.log" for n in range(2)]
        workers = [start_worker(settings, log) for log in logs]
        try:
            wait_until(lambda: healthy <= succeeded(factory), 100, "every healthy account")
            elapsed = time.monotonic() - started
        finally:
            errors = [stop(w, log) for w, log in zip(workers, logs, strict=True)]
        assert all("Traceback" not in e for e in errors), errors
        assert [w.returncode for w in workers] == [0, 0]  # SIGTERM: a clean, prompt stop

    with factory() as session:
        assert overlapping_runs(session) == []
        by_worker = Counter(session.scalars(select(SyncRun.worker)))
        failed_kinds = set(
            session.scalars(select(SyncRun.error_kind).where(SyncRun.outcome == "failed"))
        )
        success_runs = Counter(
            session.scalars(select(SyncRun.account_id).where(SyncRun.outcome == "success"))
        )
        states = dict(
            session.execute(select(LinkedAccount.id, LinkedAccount.consecutive_failures)).all()
        )
    assert len(by_worker) == 2 and min(by_worker.values()) > 50  # both replicas worked
    assert set(success_runs) == healthy  # none starved; failing ones never "succeeded"
    assert failed_kinds == {"transient"}
    assert all(states[ids[p]] >= 1 for p in failing)
    # 500 accounts in well under the time a serial worker stalled by failures would take
    assert elapsed < 120
    expected = expected_by_day(world, {p: z for p, z in patients.items() if p not in failing})
    assert stored_by_day(factory, world.provider) == expected


def test_a_worker_killed_mid_sync_loses_nothing(
    pg_only, world, factory, db_url, secret_key, cipher, tmp_path
):
    patients = {f"P{i:05d}": ZONES[i % len(ZONES)] for i in range(6)}
    seed_accounts(factory, cipher, 6, world.provider, ZONES, link=world.link)
    app = slowed(world.app(), world.data_path, 0.6)
    with world.serving(app) as urls:
        settings = settings_for(db_url, secret_key, urls, sync_tick_seconds=0.2,
                                sync_concurrency=2, sync_lease_seconds=30)  # fmt: skip
        log = tmp_path / "victim.log"
        victim = start_worker(settings, log)
        try:
            wait_until(lambda: len(succeeded(factory)) >= 1, 60, "the first finished sync")
            os.kill(victim.pid, signal.SIGKILL)
            victim.wait(timeout=10)
        finally:
            stop(victim, log)
        # Read after the kill: the leases a dead worker still holds are exactly the syncs
        # it died in (read before, one of them could still finish in between).
        with factory() as session:
            in_flight = set(
                session.scalars(
                    select(LinkedAccount.id).where(LinkedAccount.lease_owner.is_not(None))
                )
            )
        assert in_flight, "the kill should land while syncs are running"
        done_before = succeeded(factory)
        left = running_runs(factory)  # what the dead worker was doing, still visible
        assert left and set(left.values()) <= in_flight

        # Nobody takes the dead worker's accounts (nor closes its runs) while its
        # leases last...
        sources = sources_for(factory, settings)
        now = datetime.now(UTC)
        early = run_cycle(factory, settings, "rescuer", sources=sources, clock=lambda: now)
        assert not in_flight & {r.account_id for r in early.results}
        assert running_runs(factory) == left
        # ...and once they run out, another worker closes them and finishes the job.
        later = now + timedelta(seconds=31)
        run_cycle(factory, settings, "rescuer", sources=sources, clock=lambda: later)

    with factory() as session:
        assert overlapping_runs(session) == []
        closed = session.execute(
            select(SyncRun.outcome, SyncRun.worker, SyncRun.finished_at).where(SyncRun.id.in_(left))
        ).all()
        rescued = set(
            session.scalars(
                select(SyncRun.account_id).where(
                    SyncRun.worker == "rescuer", SyncRun.outcome == "success"
                )
            )
        )
        unleased = session.scalar(
            select(func.count()).where(LinkedAccount.lease_owner.is_not(None))
        )
    assert {(outcome, at) for outcome, _worker, at in closed} == {("abandoned", later)}
    assert "rescuer" not in {worker for _outcome, worker, _at in closed}
    assert running_runs(factory) == {}
    assert in_flight <= rescued
    assert unleased == 0
    assert done_before | in_flight <= succeeded(factory)
    assert len(succeeded(factory)) == 6
    assert stored_by_day(factory, world.provider) == expected_by_day(world, patients)
