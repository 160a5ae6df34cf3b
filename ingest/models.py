"""The common schema: who the patients are, which accounts feed them, and the
steps those accounts reported, kept at each source's own resolution.

All instants are stored in UTC. A sample's local calendar date is derived once,
at ingest, from the UTC offset the source reported for that very sample, so
travel and DST never move steps to another day.
"""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime
from typing import ClassVar

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from core.clock import utcnow


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given where a UTC instant is required")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {datetime: UTCDateTime, dict: JSON, list: JSON}


class LinkStatus(enum.StrEnum):
    ACTIVE = "active"
    NEEDS_RELINK = "needs_relink"
    PAUSED = "paused"


class Therapist(Base):
    __tablename__ = "therapists"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    # IANA zone of their working week (the Monday report); unset, their patients'
    # most common zone stands in.
    timezone: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    patients: Mapped[list[Patient]] = relationship(back_populates="therapist")


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    # IANA zone; unset until the patient or their provider tells us.
    timezone: Mapped[str | None] = mapped_column(String(64))
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id"), index=True)
    programme: Mapped[str] = mapped_column(String(64), default="walkback")
    # Per-patient overrides of programme defaults, e.g. {"cadence_threshold": 80}.
    overrides: Mapped[dict] = mapped_column(default=dict)
    # Per-patient "provider/device" patterns; None means the configured default.
    source_priority: Mapped[list | None] = mapped_column()
    # Where the patient's messages go; None: the patient gets none by email.
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    therapist: Mapped[Therapist] = relationship(back_populates="patients")
    accounts: Mapped[list[LinkedAccount]] = relationship(back_populates="patient")


class LinkedAccount(Base):
    __tablename__ = "linked_accounts"
    __table_args__ = (
        UniqueConstraint("patient_id", "provider"),
        Index("ix_linked_accounts_due", "status", "next_sync_due"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    external_user_id: Mapped[str | None] = mapped_column(String(128))
    # Fernet token of the provider credentials JSON; never plaintext.
    credentials: Mapped[bytes] = mapped_column(LargeBinary)
    # Bumped on every credentials write: refreshes compare-and-set on it.
    credentials_version: Mapped[int] = mapped_column(Integer, default=1)
    status: Mapped[str] = mapped_column(String(16), default=LinkStatus.ACTIVE.value)
    last_success_at: Mapped[datetime | None] = mapped_column()
    # Last local date whose data is committed; the sync cursor.
    synced_through: Mapped[date | None] = mapped_column(Date)
    # Routine syncs read minute data only from here (less an overlap): the newest
    # instant the provider held data up to when last read (never after that sync's start).
    synced_until: Mapped[datetime | None] = mapped_column()
    # When the whole look-back was last re-read (once a day; None: due now).
    full_read_at: Mapped[datetime | None] = mapped_column()
    # The earliest instant a webhook said changed since the last sync read it.
    changed_from: Mapped[datetime | None] = mapped_column()
    next_sync_due: Mapped[datetime | None] = mapped_column(default=utcnow)
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_expires: Mapped[datetime | None] = mapped_column()
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_error_kind: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    patient: Mapped[Patient] = relationship(back_populates="accounts")


class Device(Base):
    """Provenance of a source: what produced a stream of samples."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("patient_id", "provider", "device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    device: Mapped[str] = mapped_column(String(128))
    platform: Mapped[str | None] = mapped_column(String(64))
    form_factor: Mapped[str | None] = mapped_column(String(64))
    manufacturer: Mapped[str | None] = mapped_column(String(128))
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen: Mapped[datetime] = mapped_column(default=utcnow)


class StepIntervalRow(Base):
    """One interval from one source. The natural key is the primary key (no surrogate
    id): one b-tree to maintain on the hot write path, and it serves reads by patient
    and time range too."""

    __tablename__ = "step_intervals"
    __table_args__ = (
        CheckConstraint("steps >= 0", name="ck_step_intervals_steps"),
        CheckConstraint("end_utc > start_utc", name="ck_step_intervals_order"),
        CheckConstraint("abs(utc_offset_s) <= 50400", name="ck_step_intervals_offset"),
        {"sqlite_with_rowid": False},
    )

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    start_utc: Mapped[datetime] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    device: Mapped[str] = mapped_column(String(128), primary_key=True)
    end_utc: Mapped[datetime] = mapped_column(primary_key=True)
    utc_offset_s: Mapped[int] = mapped_column(Integer)
    local_date: Mapped[date] = mapped_column(Date)
    steps: Mapped[int] = mapped_column(Integer)
    resolution_s: Mapped[int] = mapped_column(Integer)
    # MANUAL entries are kept but marked; None when the source does not say.
    recording_method: Mapped[str | None] = mapped_column(String(32))


# The interval table's columns in table order, and its key (the write path and the
# day view take them from here, never from a list of their own).
INTERVAL_COLUMNS = tuple(c.name for c in StepIntervalRow.__table__.columns)
INTERVAL_KEY = tuple(c.name for c in StepIntervalRow.__table__.primary_key.columns)


class DailyTotalRow(Base):
    """A provider's own figure for a local day; revised in place by later fetches."""

    __tablename__ = "daily_totals"
    __table_args__ = (
        UniqueConstraint("patient_id", "provider", "local_date", name="uq_daily_total"),
        CheckConstraint("steps >= 0", name="ck_daily_totals_steps"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    provider: Mapped[str] = mapped_column(String(32))
    local_date: Mapped[date] = mapped_column(Date)
    steps: Mapped[int] = mapped_column(Integer)
    provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    fetched_at: Mapped[datetime] = mapped_column(default=utcnow)


class SyncRun(Base):
    """One sync of one account. Written as ``running`` when the account is claimed,
    so a worker that dies leaves a visible trace; the sweep (``ingest.sync.claims``)
    closes such a run as ``abandoned`` once its worker no longer holds the lease."""

    __tablename__ = "sync_runs"
    __table_args__ = (
        Index("ix_sync_runs_account_started", "account_id", "started_at"),
        # Only the few unfinished runs: what the abandoned-run sweep reads.
        Index(
            "ix_sync_runs_running",
            "account_id",
            postgresql_where=text("outcome = 'running'"),
            sqlite_where=text("outcome = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("linked_accounts.id", ondelete="CASCADE"))
    # Unknown (NULL) while running: the sync computes it once it starts.
    window_start: Mapped[date | None] = mapped_column(Date)
    window_end: Mapped[date | None] = mapped_column(Date)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    # running / success / partial / failed / abandoned
    outcome: Mapped[str] = mapped_column(String(16), default="running")
    error_kind: Mapped[str | None] = mapped_column(String(32))
    error: Mapped[str | None] = mapped_column(Text)
    intervals_written: Mapped[int] = mapped_column(Integer, default=0)
    totals_written: Mapped[int] = mapped_column(Integer, default=0)
    rejected: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str | None] = mapped_column(String(128))


class PainReport(Base):
    __tablename__ = "pain_reports"
    __table_args__ = (
        CheckConstraint("score >= 0 AND score <= 10", name="ck_pain_reports_score"),
        Index("ix_pain_reports_patient_at", "patient_id", "reported_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    patient_id: Mapped[str] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    reported_at: Mapped[datetime] = mapped_column(default=utcnow)
    score: Mapped[int] = mapped_column(Integer)
    note: Mapped[str | None] = mapped_column(Text)
