"""Tables of the rules area: alert records, exempt days and therapists' level overrides.

Pain reports live in ``ingest.models.PainReport``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from functools import cache

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, Session, mapped_column

from core.clock import utcnow
from ingest.models import Base

# open: holds now; acknowledged: someone has seen it; closed: the condition ended
# (``closed_at``); withdrawn: later data showed it never held (``withdrawn_reason``).
ALERT_STATUSES = ("open", "acknowledged", "closed", "withdrawn")
EXEMPT_REASONS = ("illness", "travel", "weather", "other")


class Alert(Base):
    """A finding worth telling someone: one per (patient, rule, period, audience), where
    a period is a whole episode (a streak, a sync gap, an overdoing week), so re-running
    the rules never makes a second. It stores facts (numbers and ISO dates), never
    words: ``rules.messages.render`` writes the message when it is shown or sent."""

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("patient_id", "rule", "period", "audience", name="uq_alert_key"),
        CheckConstraint(
            "status IN ('open', 'acknowledged', 'closed', 'withdrawn')", name="ck_alert_status"
        ),
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
    facts: Mapped[dict] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="open")
    # The patient's local date of the evaluation that raised it (the alert budget's week).
    raised_on: Mapped[date] = mapped_column(Date)
    # Held back from the patient by the weekly alert budget; the therapist still sees it.
    muted: Mapped[bool] = mapped_column(Boolean, default=False)
    closed_at: Mapped[datetime | None] = mapped_column()
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


class ProgrammeStart(Base):
    """The date a therapist started (or restarted) a patient's programme: days before it
    are history, usable as the baseline, never judged."""

    __tablename__ = "programme_starts"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    start_date: Mapped[date] = mapped_column(Date)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class DaySummary(Base):
    """One patient-day's minute metrics as the rules last computed them
    (``rules.metrics.interval_day_metrics``), at the walking threshold it used: kept so
    a daily evaluation recomputes only the days whose intervals changed."""

    __tablename__ = "day_summaries"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)
    threshold: Mapped[int] = mapped_column(Integer)
    wear_hours: Mapped[int] = mapped_column(Integer)
    walking_minutes: Mapped[int] = mapped_column(Integer)
    bouts: Mapped[int] = mapped_column(Integer)
    longest_bout: Mapped[int] = mapped_column(Integer)
    intraday_minutes: Mapped[int] = mapped_column(Integer)
    implausible_minutes: Mapped[int] = mapped_column(Integer)
    implausible_steps: Mapped[int] = mapped_column(Integer)
    # The day view's figures from the merged intervals, and the newest interval's end
    # (any source), so that a daily run reads no interval of an unchanged day.
    interval_steps: Mapped[int] = mapped_column(Integer)
    interval_source: Mapped[str] = mapped_column(Text)
    last_end_utc: Mapped[datetime] = mapped_column()
    computed_at: Mapped[datetime] = mapped_column(default=utcnow)


class SummaryBasis(Base):
    """What a patient's day summaries were computed on: a digest of their settings,
    source priority and zone, the first baseline day and the walking threshold
    calibrated from it, and the last day the calibration saw (the baseline's end, or
    the evaluated date while the baseline runs). A new digest, first day or last day
    seen recomputes all their days."""

    __tablename__ = "summary_bases"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    baseline_from: Mapped[date] = mapped_column(Date)
    calibrated_through: Mapped[date] = mapped_column(Date)
    threshold: Mapped[int] = mapped_column(Integer)


class DirtyDay(Base):
    """A patient-day whose intervals changed since its summary was computed (marked by
    the write path; cleared when the rules recompute it)."""

    __tablename__ = "dirty_days"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    local_date: Mapped[date] = mapped_column(Date, primary_key=True)


def mark_dirty(session: Session, days: Iterable[tuple[str, date]]) -> None:
    """Mark ``(patient_id, local_date)`` days dirty (idempotent, in the caller's
    transaction)."""
    rows = [{"patient_id": p, "local_date": d} for p, d in set(days)]
    if rows:  # one statement per dialect, run with all the rows (executemany)
        session.connection().execute(_mark_dirty(session.get_bind().dialect.name), rows)


@cache
def _mark_dirty(dialect: str):
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(DirtyDay.__table__).on_conflict_do_nothing()
