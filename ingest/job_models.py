"""Claims on periodic work: one row per (job, key), e.g. ("daily-rules",
"P1/2026-01-15"), written by the replica that does that piece of work.

Replicas run the same schedule from code; this table is how they agree that
each piece is done once (``ingest.jobclaims``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from ingest.models import Base


class JobRun(Base):
    __tablename__ = "job_runs"

    job: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    claimed_by: Mapped[str] = mapped_column(String(128))
    claimed_at: Mapped[datetime]
    # None while the claimer works (or after it died: then the lease decides).
    finished_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(32))
