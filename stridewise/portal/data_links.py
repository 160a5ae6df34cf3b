"""Links to the patient's own data page: in every patient message, expiring, and
opening that one patient's page and nothing else."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import StridewiseError
from ingest.patients import get_patient
from ingest.portal_models import DataLink
from stridewise.portal.tokens import new_token, token_hash

DATA_PATH = "/me/"


class DataLinkRefused(StridewiseError):
    MESSAGES: ClassVar[dict[str, str]] = {
        "unknown": "This link is not valid. Open the newest message from stridewise, "
        "or ask your physiotherapist.",
        "expired": "This link has expired. The next message from stridewise brings a new "
        "one, or ask your physiotherapist.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason


def create_data_link(
    session: Session, patient_id: str, days: int, now: datetime | None = None
) -> str:
    """A new link token for the patient's own data page (shown once, stored hashed)."""
    get_patient(session, patient_id)
    now = now or utcnow()
    token = new_token()
    session.add(
        DataLink(
            patient_id=patient_id,
            token_hash=token_hash(token),
            created_at=now,
            expires_at=now + timedelta(days=days),
        )
    )
    session.flush()
    return token


def data_link_url(public_url: str, token: str) -> str:
    return public_url.rstrip("/") + DATA_PATH + token


def find_data_link(session: Session, token: str, now: datetime | None = None) -> DataLink:
    row = session.scalars(
        select(DataLink).where(DataLink.token_hash == token_hash(token))
    ).one_or_none()
    if row is None or row.revoked_at is not None:
        raise DataLinkRefused("unknown")
    if row.expires_at <= (now or utcnow()):
        raise DataLinkRefused("expired")
    return row
