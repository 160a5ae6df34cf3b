"""Invitations: one-time, expiring links a therapist gives a patient to link (or
relink) a wearable. Rows, so a therapist can list and revoke them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import ClassVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import NotFound, StridewiseError
from ingest.patients import get_patient
from ingest.portal_models import Invitation
from stridewise.portal.tokens import new_token, token_hash

INVITE_PATH = "/invite/"
RELINK_PATH = "/relink/"
RELINKABLE = ("google-health", "garmin")


class InvitationRefused(StridewiseError):
    """Why an invitation link cannot be used; ``reason`` picks the page shown."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "unknown": "This link is not valid. Check that you opened the whole link, or ask "
        "your physiotherapist for a new one.",
        "expired": "This link has expired. Ask your physiotherapist for a new one.",
        "used": "This link has already been used. If you need to link a watch again, "
        "ask your physiotherapist for a new link.",
        "revoked": "This link was withdrawn by your physiotherapist. Ask them for a new one.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason


@dataclass(frozen=True, slots=True)
class NewInvitation:
    id: int
    token: str  # shown once (printed, sent, drawn as a QR code); never stored
    expires_at: datetime


def create_invitation(
    session: Session,
    patient_id: str,
    days: int,
    created_by: str | None = None,
    provider: str | None = None,
    now: datetime | None = None,
) -> NewInvitation:
    """A new invitation (``provider``: a relink of that account)."""
    get_patient(session, patient_id)
    if provider is not None and provider not in RELINKABLE:
        raise StridewiseError(f"cannot relink {provider!r}: use {' or '.join(RELINKABLE)}")
    now = now or utcnow()
    token = new_token()
    row = Invitation(
        patient_id=patient_id,
        token_hash=token_hash(token),
        provider=provider,
        created_by=created_by,
        created_at=now,
        expires_at=now + timedelta(days=days),
    )
    session.add(row)
    session.flush()
    return NewInvitation(row.id, token, row.expires_at)


def invitation_url(public_url: str, token: str, relink: bool = False) -> str:
    return public_url.rstrip("/") + (RELINK_PATH if relink else INVITE_PATH) + token


def find_invitation(session: Session, token: str, now: datetime | None = None) -> Invitation:
    """The usable invitation behind ``token``, else :class:`InvitationRefused`."""
    row = session.scalars(
        select(Invitation).where(Invitation.token_hash == token_hash(token))
    ).one_or_none()
    if row is None:
        raise InvitationRefused("unknown")
    check_usable(row, now)
    return row


def check_usable(row: Invitation, now: datetime | None = None) -> None:
    if row.revoked_at is not None:
        raise InvitationRefused("revoked")
    if row.used_at is not None:
        raise InvitationRefused("used")
    if row.expires_at <= (now or utcnow()):
        raise InvitationRefused("expired")


def use_invitation(session: Session, invitation_id: int, now: datetime | None = None) -> None:
    """Spend the invitation (a link was stored): it opens nothing from now on."""
    row = session.get(Invitation, invitation_id, with_for_update=True)
    if row is None:
        raise InvitationRefused("unknown")
    check_usable(row, now)
    row.used_at = now or utcnow()


def revoke_invitation(session: Session, invitation_id: int, now: datetime | None = None) -> None:
    row = session.get(Invitation, invitation_id)
    if row is None:
        raise NotFound(f"no invitation {invitation_id}")
    if row.revoked_at is None and row.used_at is None:
        row.revoked_at = now or utcnow()


def list_invitations(session: Session, patient_id: str) -> list[Invitation]:
    query = select(Invitation).where(Invitation.patient_id == patient_id)
    return list(session.scalars(query.order_by(Invitation.created_at.desc())))


def invitation_state(row: Invitation, now: datetime | None = None) -> str:
    """pending / used / revoked / expired, for a therapist's list."""
    try:
        check_usable(row, now)
    except InvitationRefused as refused:
        return refused.reason
    return "pending"
