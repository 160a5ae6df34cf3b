"""Tables of the delivery area: the outbox, therapists' webhook endpoints, and which
alerts went out in which message (so a withdrawn alert that was already sent is
taken back in the next digest)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from ingest.models import Base

OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead", "cancelled")
CHANNELS = ("email", "webhook")


class OutboxMessage(Base):
    """One message to send, written in the transaction that decided it.

    ``key`` is derived from what the message carries (recipient, day or week,
    alerts), so queueing the same thing twice is a no-op, and the Message-ID /
    ``webhook-id`` derived from it lets a receiver drop the at-most-one duplicate a
    crash between the provider's acceptance and our commit can cause. The wording
    is rendered when it is sent, from ``payload`` (ids and periods, never text).
    """

    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'dead', 'cancelled')",
            name="ck_outbox_status",
        ),
        CheckConstraint("channel IN ('email', 'webhook')", name="ck_outbox_channel"),
        Index("ix_outbox_due", "status", "next_attempt_at"),
        Index("ix_outbox_patient_sent", "patient_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    # patient_daily, therapist_urgent, therapist_weekly
    kind: Mapped[str] = mapped_column(String(32))
    # An email address, or the webhook endpoint's id.
    recipient: Mapped[str] = mapped_column(String(320))
    therapist_id: Mapped[str | None] = mapped_column(
        ForeignKey("therapists.id", ondelete="CASCADE")
    )
    patient_id: Mapped[str | None] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    payload: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class WebhookEndpoint(Base):
    """A therapist's system receiving signed events; its secret is encrypted at rest
    and shown once, when the endpoint is added. An endpoint answering 410 is disabled."""

    __tablename__ = "webhook_endpoints"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    therapist_id: Mapped[str] = mapped_column(
        ForeignKey("therapists.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(String(2000))
    secret: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AlertDelivery(Base):
    """An alert carried by a sent message; ``retraction`` rows say a later message
    told the recipient the alert no longer holds."""

    __tablename__ = "alert_deliveries"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    outbox_id: Mapped[int] = mapped_column(
        ForeignKey("outbox.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    retraction: Mapped[bool] = mapped_column(Boolean, default=False)
