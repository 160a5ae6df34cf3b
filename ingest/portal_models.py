"""Tables of the patient portal: invitations, data links, logins half done, webhook receipts.

Tokens are never stored: only their SHA-256, so a copy of the database opens no link.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from ingest.models import Base


class Invitation(Base):
    """A one-time link a therapist gives a patient to link a wearable (``provider`` set:
    a relink of that provider's account)."""

    __tablename__ = "portal_invitations"
    __table_args__ = (Index("ix_portal_invitations_patient", "patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str | None] = mapped_column(String(32))
    created_by: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class DataLink(Base):
    """A signed, expiring link to the patient's own data page (sent in every message)."""

    __tablename__ = "portal_data_links"
    __table_args__ = (Index("ix_portal_data_links_patient", "patient_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class PendingLogin(Base):
    """A link started in the browser and not finished: Google's PKCE verifier, or
    garminconnect's resumable MFA state (never the password), encrypted; minutes long."""

    __tablename__ = "portal_pending_logins"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    invitation_id: Mapped[int] = mapped_column(
        ForeignKey("portal_invitations.id", ondelete="CASCADE"), index=True
    )
    provider: Mapped[str] = mapped_column(String(32))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class WebhookReceipt(Base):
    """A push notification already acted on (its body's hash): duplicates change nothing.
    Holds no user id, so deleting a patient leaves nothing of theirs here."""

    __tablename__ = "webhook_receipts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    body_hash: Mapped[str] = mapped_column(String(64), unique=True)
    received_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
