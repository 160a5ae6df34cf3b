"""Periodic work claimed in ``job_runs``: racing replicas run each key once, a
crashed claimer's key is taken over after the lease, and the daily rules tick
run by two replicas evaluates each patient once."""

from __future__ import annotations

import random
import subprocess
import sys
import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

import rules.evaluate
from ingest.db import transaction
from ingest.job_models import JobRun
from ingest.jobclaims import claim, claim_many, finish
from ingest.models import Patient, Therapist
from stridewise.jobs import DAILY_RULES_JOB, RULES_LEASE_SECONDS, daily_rules_tick

T0 = datetime(2026, 1, 15, 7, 5, tzinfo=UTC)
LEASE = 600


def _race(target, workers=("r1", "r2")) -> None:
    """Run ``target(worker)`` in one thread per worker, released together."""
    start = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(worker: str) -> None:
        try:
            start.wait()
            target(worker)
        except BaseException as err:  # surfaced below, not lost in the thread
            errors.append(err)

    threads = [threading.Thread(target=run, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors, errors


def test_racing_claimers_run_each_key_exactly_once(factory):
    keys = [f"T{i}/2026-W03" for i in range(40)]
    ran: list[tuple[str, str]] = []

    def replica(worker: str) -> None:
        order = random.Random(worker).sample(keys, len(keys))
        for key in order:
            with transaction(factory) as session:
                won = claim(session, "weekly-report", key, worker, T0, LEASE)
            if won:
                ran.append((worker, key))
                with transaction(factory) as session:
                    assert finish(session, "weekly-report", [key], worker, "ok", T0) == 1

    _race(replica)
    assert Counter(key for _, key in ran) == Counter(keys)  # every key, none twice
    with factory() as session:
        rows = session.scalars(select(JobRun)).all()
    assert len(rows) == len(keys)
    assert all(r.outcome == "ok" and r.finished_at is not None for r in rows)
    assert {r.claimed_by for r in rows} == {w for w, _ in ran}


def test_batch_claims_split_the_keys_between_replicas(factory):
    keys = [f"P{i}/2026-01-15" for i in range(300)]
    won: dict[str, list[str]] = {}

    def replica(worker: str) -> None:
        with transaction(factory) as session:
            won[worker] = claim_many(session, "daily-rules", keys, worker, T0, LEASE)

    _race(replica)
    assert not set(won["r1"]) & set(won["r2"])
    assert sorted(won["r1"] + won["r2"]) == sorted(keys)


def test_a_stale_unfinished_claim_is_taken_over_and_fenced(factory):
    job, key = "daily-rules", "P1/2026-01-15"
    with transaction(factory) as session:
        assert claim(session, job, key, "dead", T0, LEASE)
    with transaction(factory) as session:
        assert not claim(session, job, key, "r2", T0 + timedelta(seconds=LEASE - 1), LEASE)
    later = T0 + timedelta(seconds=LEASE + 1)
    with transaction(factory) as session:
        assert claim(session, job, key, "r2", later, LEASE)
    with transaction(factory) as session:
        assert finish(session, job, [key], "dead", "ok", later) == 0  # taken over: ignored
        assert finish(session, job, [key], "r2", "ok", later) == 1
    with transaction(factory) as session:  # finished work is never claimed again
        assert not claim(session, job, key, "r3", later + timedelta(days=1), LEASE)
    with factory() as session:
        row = session.get(JobRun, (job, key))
    assert (row.claimed_by, row.outcome) == ("r2", "ok")


def test_a_finished_failure_is_not_retried_by_the_same_job(factory):
    with transaction(factory) as session:
        assert claim(session, "daily-rules", "P1/2026-01-15", "r1", T0, LEASE)
        finish(session, "daily-rules", ["P1/2026-01-15"], "r1", "failed", T0)
    with transaction(factory) as session:
        assert not claim(session, "daily-rules", "P1/2026-01-15", "r2", T0 + timedelta(days=1),
                         LEASE)  # fmt: skip


# 07:05 UTC in January: 07:05 in London and with no zone (UTC), 08:05 in Oslo,
# 02:05 in New York, 16:05 in Tokyo.
ZONES = ("Europe/London", None, "Europe/Oslo", "America/New_York", "Asia/Tokyo", "Europe/London")
MORNING = {"P0", "P1", "P5"}


@pytest.fixture
def patients(factory) -> list[str]:
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Dr Who", email="t1@example.org"))
        session.flush()
        for i, zone in enumerate(ZONES):
            session.add(Patient(id=f"P{i}", name=f"Pat {i}", timezone=zone, therapist_id="T1"))
    return [f"P{i}" for i in range(len(ZONES))]


@pytest.fixture
def evaluated(monkeypatch) -> Counter:
    """Every patient the real rules service was asked to evaluate, counted."""
    counts: Counter = Counter()
    real = rules.evaluate.evaluate

    def counting(factory, **kwargs):
        counts.update(kwargs["patient_ids"])
        return real(factory, **kwargs)

    monkeypatch.setattr(rules.evaluate, "evaluate", counting)
    return counts


def test_two_replicas_ticking_together_evaluate_each_patient_once(factory, patients, evaluated):
    returned: dict[str, list[str]] = {}

    def replica(worker: str) -> None:
        returned[worker] = daily_rules_tick(factory, 7, worker, now=T0)

    _race(replica)
    assert evaluated == Counter(MORNING)
    assert sorted(returned["r1"] + returned["r2"]) == sorted(MORNING)
    # The second run in the hour (and a restarted replica) finds the work done.
    assert daily_rules_tick(factory, 7, "r3", now=T0 + timedelta(minutes=30)) == []
    assert evaluated == Counter(MORNING)
    with factory() as session:
        rows = session.scalars(select(JobRun).where(JobRun.job == DAILY_RULES_JOB)).all()
    assert sorted(r.key for r in rows) == sorted(f"{p}/2026-01-15" for p in MORNING)
    assert all(r.outcome == "ok" for r in rows)
    # The next local morning is new work.
    assert sorted(daily_rules_tick(factory, 7, "r1", now=T0 + timedelta(days=1))) == sorted(MORNING)


def test_the_rules_tick_takes_over_a_crashed_replicas_patients(factory, patients, evaluated):
    with transaction(factory) as session:  # a replica claimed P0 and P1, then died
        claim_many(session, DAILY_RULES_JOB, ["P0/2026-01-15", "P1/2026-01-15"], "dead", T0,
                   RULES_LEASE_SECONDS)  # fmt: skip
    assert daily_rules_tick(factory, 7, "r2", now=T0) == ["P5"]
    later = T0 + timedelta(seconds=RULES_LEASE_SECONDS + 60)
    assert daily_rules_tick(factory, 7, "r2", now=later) == ["P0", "P1"]
    assert evaluated == Counter(MORNING)
    with factory() as session:
        owners = {r.key: r.claimed_by for r in session.scalars(select(JobRun))}
    assert set(owners.values()) == {"r2"}


REPLICA = """
import sys
from datetime import datetime, UTC
from ingest.db import make_engine, session_factory, transaction
from ingest.jobclaims import claim, finish
url, worker = sys.argv[1], sys.argv[2]
factory = session_factory(make_engine(url))
print('ready', flush=True)
sys.stdin.readline()  # go
now = datetime(2026, 1, 15, 7, 5, tzinfo=UTC)
for i in range(60):
    key = f"T{i}/2026-W03"
    with transaction(factory) as session:
        won = claim(session, "weekly-report", key, worker, now, 600)
    if won:
        print(key, flush=True)
        with transaction(factory) as session:
            finish(session, "weekly-report", [key], worker, "ok", now)
"""


@pytest.mark.slow
def test_two_replica_processes_run_each_key_once(db_url):
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", REPLICA, db_url, worker],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for worker in ("p1", "p2")
    ]
    # Both past their imports, then released together.
    assert [proc.stdout.readline().strip() for proc in procs] == ["ready", "ready"]
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs = [proc.communicate(timeout=90)[0].split() for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0]
    assert Counter(outputs[0] + outputs[1]) == Counter(f"T{i}/2026-W03" for i in range(60))
