"""Losing the database: the scheduler's jobs wait an outage out (one log line when
it starts, one when it ends, backing off in between), and a real ``stridewise
worker`` cut off from PostgreSQL for 30 s resumes on its own, with every interval
stored exactly once."""

from __future__ import annotations

import json
import socket
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import structlog
from pg_proxy import CuttableProxy
from sqlalchemy import func, select
from sync_support import overlapping_runs, seed_accounts
from sync_worlds import GoogleWorld
from test_sync_faults import ZONES, expected_by_day, settings_for, stored_by_day
from test_sync_workers import slowed, start_worker, stop, succeeded, wait_until

from core.schema import StepBatch, StepInterval
from ingest.db import database_unavailable, make_engine, session_factory
from ingest.models import SyncRun
from ingest.ops_models import WorkerHeartbeat
from ingest.pg_batch import MAX_ROWS
from ingest.store import write_batch
from stridewise.outage import Outage

OUTAGE_S = 30


class Ticks:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def refused_engine():
    """An engine whose server refuses every connection: a real database error."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # bound but never listening: refused
        engine = make_engine(f"postgresql+psycopg://postgres@127.0.0.1:{port}/x")
        yield engine
        engine.dispose()


def test_jobs_back_off_through_an_outage_and_log_its_start_and_end(refused_engine):
    ticks = Ticks()
    outage = Outage(base_s=1, max_s=4, clock=ticks)
    calls = []

    def job(engine) -> str:
        calls.append(ticks.now)
        with engine.connect():
            return "ran"

    guarded = outage.guard(job, "sync-tick")
    with structlog.testing.capture_logs() as logs:
        for tick in range(20):  # a 0.5 s scheduler tick over 10 s of outage
            ticks.now = tick / 2
            assert guarded(refused_engine) is None
        assert outage.down
        healthy = make_engine("sqlite://")
        ticks.now = 10.5
        assert guarded(healthy) is None  # still backing off
        ticks.now = 11
        assert guarded(healthy) == "ran"
    assert calls == [0, 1, 3, 7, 11]  # retries after 1, 2, 4, then 4 s (the cap)
    assert [(e["event"], e["log_level"]) for e in logs] == [
        ("db.unavailable", "warning"),
        ("db.recovered", "warning"),
    ]
    assert logs[0]["error_type"] == "OperationalError" and logs[0]["job"] == "sync-tick"
    assert logs[1]["failed_runs"] == 4 and logs[1]["after_s"] == 11
    assert not outage.down


def test_an_error_that_is_not_the_database_is_raised_as_before():
    guarded = Outage().guard(lambda: 1 / 0, "weekly-reports")
    with pytest.raises(ZeroDivisionError):
        guarded()


@pytest.mark.postgres
@pytest.mark.slow
def test_a_worker_that_loses_postgresql_for_30_s_resumes_and_loses_nothing(
    engine, factory, db_url, secret_key, cipher, tmp_path
):
    if engine.dialect.name != "postgresql":
        pytest.skip("a worker process against PostgreSQL through a proxy")
    world = GoogleWorld()
    patients = {f"P{i:05d}": ZONES[i % len(ZONES)] for i in range(16)}
    seed_accounts(factory, cipher, len(patients), world.provider, ZONES, link=world.link)
    proxy = CuttableProxy()
    log = tmp_path / "worker.log"
    # Slow data calls keep syncs in flight when the cut comes.
    with world.serving(slowed(world.app(), world.data_path, 0.4)) as urls:
        settings = settings_for(proxy.url(db_url), secret_key, urls, sync_tick_seconds=0.2,
                                sync_concurrency=2, sync_lease_seconds=10)  # fmt: skip
        worker = start_worker(settings, log)
        try:
            wait_until(lambda: len(succeeded(factory)) >= 3, 60, "the first syncs")
            proxy.cut()
            with factory() as session:  # this test's own connection is not cut
                doomed = set(
                    session.scalars(select(SyncRun.id).where(SyncRun.outcome == "running"))
                )
                done_at_cut = len(succeeded(factory))
            time.sleep(OUTAGE_S)
            assert worker.poll() is None, "the worker died without its database"
            assert len(succeeded(factory)) == done_at_cut  # it really was cut off
            proxy.restore()
            restored = datetime.now(UTC)
            wait_until(lambda: len(succeeded(factory)) == len(patients), 120, "every account")
            alive = worker.poll() is None
            with factory() as session:
                beat = session.scalar(select(func.max(WorkerHeartbeat.last_tick_at)))
        finally:
            output = stop(worker, log)
            proxy.close()
    assert alive and worker.returncode == 0  # no restart, and still stops cleanly
    assert proxy.refused > 0  # the worker kept trying while cut off

    assert stored_by_day(factory, world.provider) == expected_by_day(world, patients)
    with factory() as session:
        outcomes = Counter(session.scalars(select(SyncRun.outcome)))
        closed = dict(
            session.execute(select(SyncRun.id, SyncRun.outcome).where(SyncRun.id.in_(doomed))).all()
        )
        assert overlapping_runs(session) == []
    assert doomed, "the cut should land while syncs are running"
    assert set(closed.values()) == {"abandoned"}  # their worker lost them, then closed them
    assert outcomes["running"] == 0 and outcomes["success"] == len(patients)
    assert beat > restored  # the heartbeat is back too

    events = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    assert "Traceback" not in output
    assert len(events) == len(output.splitlines())  # only log lines, nothing else
    kinds = Counter(e["event"] for e in events if e["level"] != "info")
    assert kinds["db.unavailable"] == 1 and kinds["db.recovered"] == 1
    # A bounded number of warnings for a 30 s outage at a 0.2 s tick, not a storm.
    assert sum(kinds.values()) < 40, kinds


def test_a_connection_lost_mid_write_is_the_database_gone_not_a_bug(engine, db_url, patient):
    """The write path talks to psycopg directly (a pipeline, COPY): a connection
    dropped under it still leaves the transaction as an error the worker knows as
    the database being unavailable (waited out), not as an internal error."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the write path's own round trips are PostgreSQL's")
    proxy = CuttableProxy()
    cut_engine = make_engine(proxy.url(db_url))
    try:
        start = datetime(2026, 11, 30, 9, tzinfo=UTC)
        rows = [StepInterval(patient, "google-health", "watch", start + timedelta(minutes=i),
                             start + timedelta(minutes=i + 1), 0, 10)
                for i in range(MAX_ROWS + 1)]  # fmt: skip
        for size in (30, MAX_ROWS + 1):  # the one-statement path, then COPY
            proxy.restore()
            session = session_factory(cut_engine)()
            with pytest.raises(Exception) as raised, session, session.begin():
                session.execute(select(1))
                proxy.cut()
                write_batch(session, StepBatch(rows[:size]), {patient})
            assert database_unavailable(raised.value), repr(raised.value)
    finally:
        proxy.close()
        cut_engine.dispose()
