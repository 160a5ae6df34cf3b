"""A browser link flow between two requests (Google's consent round trip, Garmin's
MFA code): its secret state encrypted in a row that lives for minutes, found by
the hash of a random key the browser holds (the OAuth ``state`` or a form field)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import StridewiseError
from ingest.crypto import Cipher
from ingest.portal_models import PendingLogin
from stridewise.portal.tokens import new_token, token_hash

PENDING_MINUTES = 10


class PendingExpired(StridewiseError):
    def __init__(self) -> None:
        super().__init__(
            "This step took too long or was already finished. Start again from your link."
        )


def save_pending(
    session: Session,
    cipher: Cipher,
    invitation_id: int,
    provider: str,
    payload: dict,
    key: str | None = None,
    now: datetime | None = None,
) -> str:
    """Store ``payload`` encrypted for :data:`PENDING_MINUTES` under ``key`` (a new
    random one by default); returns the key."""
    now = now or utcnow()
    session.execute(delete(PendingLogin).where(PendingLogin.expires_at <= now))
    key = key or new_token()
    session.add(
        PendingLogin(
            invitation_id=invitation_id,
            provider=provider,
            key_hash=token_hash(key),
            payload=cipher.encrypt_json(payload),
            created_at=now,
            expires_at=now + timedelta(minutes=PENDING_MINUTES),
        )
    )
    session.flush()
    return key


def find_pending(
    session: Session, key: str, provider: str, now: datetime | None = None
) -> PendingLogin:
    """The live row behind ``key`` (locked for this transaction), else :class:`PendingExpired`."""
    row = session.scalars(
        select(PendingLogin)
        .where(PendingLogin.key_hash == token_hash(key), PendingLogin.provider == provider)
        .with_for_update()
    ).one_or_none()
    if row is None or row.expires_at <= (now or utcnow()):
        raise PendingExpired()
    return row


def drop_pending(session: Session, key: str) -> None:
    session.execute(delete(PendingLogin).where(PendingLogin.key_hash == token_hash(key)))
