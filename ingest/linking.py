"""Linked accounts: storing a provider link (credentials encrypted), listing,
unlinking. Provider-specific consent flows live with their adapters and end here."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import NotFound
from ingest.crypto import Cipher
from ingest.models import LinkedAccount, LinkStatus
from ingest.patients import get_patient


def link_account(
    session: Session,
    cipher: Cipher,
    patient_id: str,
    provider: str,
    credentials: dict,
    external_user_id: str | None = None,
) -> LinkedAccount:
    """Create the patient's link to ``provider``, or renew it (a relink makes it
    active again, clears failures and makes it due at once)."""
    get_patient(session, patient_id)
    account = session.scalars(
        select(LinkedAccount).where(
            LinkedAccount.patient_id == patient_id, LinkedAccount.provider == provider
        )
    ).one_or_none()
    if account is None:
        account = LinkedAccount(patient_id=patient_id, provider=provider, credentials_version=0)
        session.add(account)
    account.credentials = cipher.encrypt_json(credentials)
    account.credentials_version = (account.credentials_version or 0) + 1
    account.external_user_id = external_user_id
    account.status = LinkStatus.ACTIVE.value
    account.consecutive_failures = 0
    account.last_error = account.last_error_kind = None
    account.next_sync_due = utcnow()
    session.flush()
    return account


def unlink_account(session: Session, patient_id: str, provider: str) -> None:
    """Forget the link and its credentials; the steps already stored stay."""
    account = find_account(session, patient_id, provider)
    session.delete(account)


def find_account(session: Session, patient_id: str, provider: str) -> LinkedAccount:
    account = session.scalars(
        select(LinkedAccount).where(
            LinkedAccount.patient_id == patient_id, LinkedAccount.provider == provider
        )
    ).one_or_none()
    if account is None:
        raise NotFound(f"patient {patient_id!r} has no {provider} link")
    return account


def list_accounts(session: Session, patient_id: str | None = None) -> list[LinkedAccount]:
    query = select(LinkedAccount).order_by(LinkedAccount.patient_id, LinkedAccount.provider)
    if patient_id:
        query = query.where(LinkedAccount.patient_id == patient_id)
    return list(session.scalars(query))
