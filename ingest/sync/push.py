"""Push: make accounts due at once, and say what changed. Webhooks and
``stridewise sync --patient`` call this; the scheduler's next tick (in whichever
replica) picks them up, and polling stays the safety net when a push is lost.

A webhook names the changed intervals; :func:`mark_changed` keeps the earliest
on the account so the next routine sync reads minute data from there (it does
not otherwise re-read days older than its overlap)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import case, literal, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from ingest.models import LinkedAccount, LinkStatus, UTCDateTime


def mark_due(
    session: Session,
    patient_id: str | None = None,
    provider: str | None = None,
    now: datetime | None = None,
) -> int:
    """Mark the patient's active accounts (all patients' when None) due now, in
    ``session``'s transaction; returns how many. Accounts backing off after a
    failure keep their retry time (a push must not defeat a rate limit), and those
    waiting for a relink stay as they are: only relinking revives them."""
    now = now or utcnow()
    query = update(LinkedAccount).where(
        LinkedAccount.status == LinkStatus.ACTIVE.value,
        LinkedAccount.consecutive_failures == 0,
    )
    if patient_id is not None:
        query = query.where(LinkedAccount.patient_id == patient_id)
    if provider is not None:
        query = query.where(LinkedAccount.provider == provider)
    result = session.execute(
        query.values(next_sync_due=now).execution_options(synchronize_session=False)
    )
    return result.rowcount


def mark_changed(session: Session, patient_id: str, provider: str, start: datetime) -> int:
    """Note that the account's data changed from ``start`` on (the earliest such
    instant is kept until a sync has read it), in ``session``'s transaction. Unlike
    :func:`mark_due` this holds for accounts backing off too: their next sync reads it."""
    current, given = LinkedAccount.changed_from, literal(start, UTCDateTime())
    earliest = case((current.is_(None) | (current > given), given), else_=current)
    result = session.execute(
        update(LinkedAccount)
        .where(
            LinkedAccount.patient_id == patient_id,
            LinkedAccount.provider == provider,
            LinkedAccount.status == LinkStatus.ACTIVE.value,
        )
        .values(changed_from=earliest)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def request_full_read(session: Session, patient_id: str | None = None) -> int:
    """Make the next sync of the patient's active accounts (all patients' when None)
    read the whole look-back's minute data, as the daily full read does."""
    query = update(LinkedAccount).where(LinkedAccount.status == LinkStatus.ACTIVE.value)
    if patient_id is not None:
        query = query.where(LinkedAccount.patient_id == patient_id)
    result = session.execute(
        query.values(full_read_at=None).execution_options(synchronize_session=False)
    )
    return result.rowcount
