"""Claims on periodic work, so that every replica can run the same schedule and
each piece of work (a patient's rules for a local date, say) is done once.

A claim is one ``INSERT ... ON CONFLICT`` on ``job_runs``: the row's primary
key (job, key) lets exactly one replica insert it; the others' conflict does
nothing, unless the row is a crashed claimer's (not finished, claimed longer
ago than the lease), which the conflict clause then takes over in the same
statement. On PostgreSQL a second claimer of the same key waits for the
first's commit and re-checks the row it committed, so two takeovers cannot
both win; on SQLite the database's single write lock serialises claimers.
Claims are committed by the caller before the work starts, and ``finish`` is
fenced on the claimer's name so a replica that was taken over records nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingest.job_models import JobRun

# Rows per statement: well under SQLite's bound-parameter limit.
CHUNK = 1000


def claim_many(
    session: Session,
    job: str,
    keys: Iterable[str],
    worker: str,
    now: datetime,
    lease_seconds: float,
) -> list[str]:
    """The ``keys`` of ``job`` that ``worker`` won, in key order (sorted, so
    concurrent claimers lock rows in the same order and cannot deadlock)."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stale = now - timedelta(seconds=lease_seconds)
    ordered = sorted(set(keys))
    won: list[str] = []
    for start in range(0, len(ordered), CHUNK):
        rows = [
            {"job": job, "key": key, "claimed_by": worker, "claimed_at": now}
            for key in ordered[start : start + CHUNK]
        ]
        statement = insert(JobRun).values(rows)
        statement = statement.on_conflict_do_update(
            index_elements=[JobRun.job, JobRun.key],
            set_={"claimed_by": worker, "claimed_at": now, "finished_at": None, "outcome": None},
            where=JobRun.finished_at.is_(None) & (JobRun.claimed_at < stale),
        ).returning(JobRun.key)
        won.extend(session.scalars(statement))
    return sorted(won)


def claim(
    session: Session, job: str, key: str, worker: str, now: datetime, lease_seconds: float
) -> bool:
    """True when ``worker`` now holds ``(job, key)``: a fresh key, or a stale claim."""
    return bool(claim_many(session, job, [key], worker, now, lease_seconds))


def finish(
    session: Session,
    job: str,
    keys: Iterable[str],
    worker: str,
    outcome: str,
    now: datetime,
) -> int:
    """Mark ``worker``'s claims on ``keys`` done with ``outcome``; how many were
    still its own (a claim taken over after its lease is left to the new owner)."""
    ids = list(keys)
    finished = 0
    for start in range(0, len(ids), CHUNK):
        finished += session.execute(
            update(JobRun)
            .where(
                JobRun.job == job,
                JobRun.key.in_(ids[start : start + CHUNK]),
                JobRun.claimed_by == worker,
                JobRun.finished_at.is_(None),
            )
            .values(finished_at=now, outcome=outcome)
            .execution_options(synchronize_session=False)
        ).rowcount
    return finished
