"""Tables of the rules area: alert records, exempt days and therapists' level overrides.

Pain reports live in ``ingest.models.PainReport``.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from ingest.models import Base

ALERT_STATUSES = ("open", "acknowledged", "withdrawn")
EXEMPT_REASONS = ("illness", "travel", "weather", "other")


class Alert(Base):
    """A finding worth telling someone, stored for delivery; one per
    (patient, rule, period, audience), so re-running the rules never makes a second."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("patient_id", "rule", "period", "audience", name="uq_alert_key"),
        CheckConstraint("status IN ('open', 'acknowledged', 'withdrawn')", name="ck_alert_status"),
        Index("ix_alerts_status_created", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    rule: Mapped[str] = mapped_column(String(32))
    period: Mapped[str] = mapped_column(String(64))
    # Last local date the period covers: alerts about later days are never withdrawn
    # by an evaluation of an earlier date.
    period_end: Mapped[date] = mapped_column(Date)
    audience: Mapped[str] = mapped_column(String(16))
    severity: Mapped[str] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16), default="open")
    withdrawn_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ExemptDay(Base):
    """A day the patient marked as not representative: under-target and inactivity pause."""

    __tablename__ = "exempt_days"
    __table_args__ = (
        UniqueConstraint("patient_id", "local_date", name="uq_exempt_day"),
        CheckConstraint(
            "reason IN ('illness', 'travel', 'weather', 'other')", name="ck_exempt_reason"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    local_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LevelOverride(Base):
    """A therapist set the programme level by hand from this programme week on."""

    __tablename__ = "level_overrides"
    __table_args__ = (
        UniqueConstraint("patient_id", "week_start", name="uq_level_override"),
        CheckConstraint("level >= 0", name="ck_level_override_level"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    week_start: Mapped[date] = mapped_column(Date)
    level: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
