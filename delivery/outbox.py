"""The transactional outbox: rows written where a message is decided, claimed by
workers with leases, finished with a fence.

Claiming follows the sync engine (``ingest.sync.claims``): candidates are picked
with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (``ingest.db.leasable``; SQLite's
single write lock serialises claimers), marked ``sending`` with an owner and an expiry, and every
later write checks the owner still holds the row. A worker that dies mid-send
lets the lease run out and the row is claimed again.

At-least-once boundary: a crash after the SMTP server answered ``250`` (or the
webhook receiver ``2xx``) and before the ``sent`` commit re-sends that message
once the lease expires. The re-send carries the same Message-ID / ``webhook-id``
(both derived from the row's key), so a receiver drops it; that is the one
duplicate the design allows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import leasable
from ingest.delivery_models import OutboxMessage

WAITING = ("pending", "failed")


class LeaseLost(Exception):
    """Another worker owns the row now; this one must not record anything."""


def message_id(key: str, domain: str) -> str:
    """The stable Message-ID of the row with ``key`` (RFC 5322 form)."""
    return f"<{hashlib.sha256(key.encode()).hexdigest()[:32]}@{domain}>"


def webhook_id(key: str) -> str:
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def enqueue(
    session: Session,
    *,
    key: str,
    channel: str,
    kind: str,
    recipient: str,
    payload: dict,
    not_before: datetime,
    therapist_id: str | None = None,
    patient_id: str | None = None,
) -> OutboxMessage | None:
    """Add a message unless one with ``key`` exists (then None): queueing is idempotent,
    also when two replicas race (the unique key decides, inside a savepoint)."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.key == key)) is not None:
        return None
    row = OutboxMessage(
        key=key,
        channel=channel,
        kind=kind,
        recipient=recipient,
        payload=payload,
        next_attempt_at=not_before,
        therapist_id=therapist_id,
        patient_id=patient_id,
        status="pending",
        attempts=0,
    )
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


@dataclass(frozen=True, slots=True)
class Claimed:
    id: int
    key: str
    channel: str
    kind: str
    recipient: str
    therapist_id: str | None
    patient_id: str | None
    payload: dict
    attempts: int


def claim(
    factory: sessionmaker[Session], worker: str, now: datetime, limit: int, lease_seconds: float
) -> list[Claimed]:
    """Lease up to ``limit`` due rows (oldest due first) to ``worker``; each claim counts
    as an attempt."""
    due = or_(
        and_(OutboxMessage.status.in_(WAITING), OutboxMessage.next_attempt_at <= now),
        and_(OutboxMessage.status == "sending", OutboxMessage.lease_expires <= now),
    )
    with factory() as session, session.begin():
        candidates = (
            select(OutboxMessage.id)
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        rows = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(leasable(session, candidates)), due)
            .values(
                status="sending",
                lease_owner=worker,
                lease_expires=now + timedelta(seconds=lease_seconds),
                attempts=OutboxMessage.attempts + 1,
            )
            .returning(
                OutboxMessage.id,
                OutboxMessage.key,
                OutboxMessage.channel,
                OutboxMessage.kind,
                OutboxMessage.recipient,
                OutboxMessage.therapist_id,
                OutboxMessage.patient_id,
                OutboxMessage.payload,
                OutboxMessage.attempts,
            )
            .execution_options(synchronize_session=False)
        ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def finish(session: Session, row_id: int, worker: str, **values) -> None:
    """Write the outcome of a claimed row, only while ``worker`` still holds it."""
    result = session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == row_id, OutboxMessage.lease_owner == worker)
        .values(lease_owner=None, lease_expires=None, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"outbox row {row_id} is no longer leased to {worker}")


def backoff(attempts: int, base_s: float, max_s: float) -> timedelta:
    """Exponential back-off after the ``attempts``-th failed attempt."""
    return timedelta(seconds=min(max_s, base_s * 2 ** max(attempts - 1, 0)))


def list_messages(session: Session, status: str | None = None, limit: int = 200):
    query = select(OutboxMessage).order_by(OutboxMessage.id.desc()).limit(limit)
    if status:
        query = query.where(OutboxMessage.status == status)
    return list(session.scalars(query))
