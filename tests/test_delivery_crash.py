"""The at-least-once boundary, for real: a worker process killed between the SMTP
``250`` and its commit; a restarted worker re-sends once, with the same Message-ID.
And two replica processes on PostgreSQL sharing 500 messages: each sent once."""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from delivery_support import FLARE, add_alert, config_for, seed_people, smtp_server
from sqlalchemy import func, select

from delivery.queueing import queue_urgent
from delivery.worker import deliver_once
from ingest.db import transaction
from ingest.delivery_models import OutboxMessage

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parents[1]

# Runs deliver_once in its own process; with "crash", SIGKILLs itself right after the
# SMTP server accepted a message and before the outbox row is marked sent.
WORKER = """
import os, signal, sys
sys.path[:0] = [{root!r}, {tests!r}]
from datetime import datetime
from delivery_support import config_for
from delivery import worker
from ingest.db import make_engine, session_factory

url, port, name, now, mode, go = sys.argv[1:7]
if go:  # start together with the other replica
    import pathlib, time
    pathlib.Path(go + "." + name).touch()
    while not pathlib.Path(go).exists():
        time.sleep(0.01)
if mode == "crash":
    worker.record_sent = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
if go:  # after its first claim, wait (a minute at most) until the other replica has one
    claim, claims = worker.outbox.claim, []
    def claim_then_meet(*args, **kwargs):
        batch, deadline = claim(*args, **kwargs), time.monotonic() + 60
        while not claims and not batch and time.monotonic() < deadline:
            time.sleep(0.05)  # the other's claim may still hold the rows: try again
            batch = claim(*args, **kwargs)
        if batch and not claims:
            pathlib.Path(go + ".claimed." + name).touch()
            while len(list(pathlib.Path(go).parent.glob("go.claimed.*"))) < 2:
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
        claims.append(len(batch))
        return batch
    worker.outbox.claim = claim_then_meet
factory = session_factory(make_engine(url))
report = worker.deliver_once(factory, config_for(int(port)), name, datetime.fromisoformat(now))
print(dict(report.outcomes))
"""


def run_worker(url: str, port: int, name: str, now: datetime, mode: str = "normal", go: str = ""):
    script = WORKER.format(root=str(ROOT), tests=str(ROOT / "tests"))
    return subprocess.Popen(
        [sys.executable, "-c", script, url, str(port), name, now.isoformat(), mode, go],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_crash_between_send_and_record_resends_once_with_the_same_message_id(db_url, factory):
    seed_people(factory)
    add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=NOW)
    with transaction(factory) as session:
        queue_urgent(session, NOW)
    with smtp_server() as (mailbox, port):
        crashed = run_worker(db_url, port, "doomed", NOW, "crash")
        crashed.wait(timeout=120)
        assert crashed.returncode == -9, crashed.stderr.read()
        assert len(mailbox.messages) == 1
        with factory() as session:
            row = session.scalars(select(OutboxMessage)).one()
        assert row.status == "sending" and row.lease_owner == "doomed"

        config = config_for(port)
        # While the dead worker's lease runs, nobody takes the row.
        assert deliver_once(factory, config, "heir", NOW + timedelta(seconds=60)).outcomes == {}
        after_lease = NOW + timedelta(seconds=config.lease_seconds + 1)
        assert deliver_once(factory, config, "heir", after_lease).sent == 1
        later = after_lease + timedelta(hours=1)
        assert deliver_once(factory, config, "heir", later).outcomes == {}
    ids = [m["Message-ID"] for m in mailbox.messages]
    assert len(ids) == 2 and ids[0] == ids[1]
    with factory() as session:
        row = session.scalars(select(OutboxMessage)).one()
    assert (row.status, row.attempts, row.lease_owner) == ("sent", 2, None)


@pytest.mark.postgres
@pytest.mark.slow
def test_two_replicas_send_500_messages_each_once(pg_url, tmp_path):
    from ingest.db import make_engine, session_factory

    engine = make_engine(pg_url)
    factory = session_factory(engine)
    try:
        seed_people(factory, patients=50)
        for i in range(500):
            day = (NOW - timedelta(days=i // 50)).date().isoformat()
            add_alert(factory, f"P{i % 50}", "flare", "therapist", "urgent",
                      period=day, facts={**FLARE, "day": day}, created_at=NOW)  # fmt: skip
        with transaction(factory) as session:
            assert queue_urgent(session, NOW) == 500
        with smtp_server() as (mailbox, port):
            go = tmp_path / "go"
            workers = [run_worker(pg_url, port, f"replica-{n}", NOW, go=str(go)) for n in (1, 2)]
            while not all((tmp_path / f"go.replica-{n}").exists() for n in (1, 2)):
                time.sleep(0.05)
            go.touch()
            outputs = [w.communicate(timeout=600) for w in workers]
            assert all(w.returncode == 0 for w in workers), outputs
        ids = Counter(m["Message-ID"] for m in mailbox.messages)
        assert len(ids) == 500 and set(ids.values()) == {1}
        with factory() as session:
            statuses = dict(
                session.execute(
                    select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
                ).all()
            )
            owners = Counter(session.scalars(select(OutboxMessage.lease_owner)))
        assert statuses == {"sent": 500}
        assert owners == {None: 500}
        # Both replicas did part of the work: each met the other after its first claim.
        assert all("'sent'" in out for out, _ in outputs), outputs
    finally:
        from conftest import _truncate_all

        _truncate_all(engine)
        engine.dispose()
