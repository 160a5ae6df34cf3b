"""Push: make accounts due at once. Webhooks and ``stridewise sync --patient``
call this; the scheduler's next tick (in whichever replica) picks them up, and
polling stays the safety net when a push is lost."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.orm import Session

from core.clock import utcnow
from ingest.models import LinkedAccount, LinkStatus


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
