"""What the running processes tell the operator: one heartbeat row per worker.

The scheduler leaves no other trace of being alive: a quiet system (nothing
due) writes no sync runs. ``stridewise doctor`` reads the newest heartbeat to
tell a running scheduler from a stopped one.
"""

from __future__ import annotations

import time
from datetime import datetime

import structlog
from sqlalchemy import String, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Mapped, Session, mapped_column, sessionmaker

from core.clock import utcnow
from ingest.models import Base

log = structlog.get_logger("stridewise.scheduler")


class WorkerHeartbeat(Base):
    __tablename__ = "worker_heartbeats"

    # worker_name(): host, pid and a nonce, so every process has its own row.
    worker: Mapped[str] = mapped_column(String(128), primary_key=True)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_tick_at: Mapped[datetime] = mapped_column(default=utcnow)


def beat(factory: sessionmaker[Session], worker: str, now: datetime | None = None) -> None:
    """Record that ``worker``'s scheduler is ticking (one row per worker, written
    only by that worker, so update-then-insert cannot race)."""
    now = now or utcnow()
    with factory() as session, session.begin():
        updated = session.execute(
            update(WorkerHeartbeat).where(WorkerHeartbeat.worker == worker).values(last_tick_at=now)
        )
        if updated.rowcount == 0:
            session.add(WorkerHeartbeat(worker=worker, started_at=now, last_tick_at=now))


class Heartbeat:
    """A worker's heartbeat for one sync tick: beats when called, at most once per
    ``every_s`` (a long cycle calls it after each account, so a busy worker stays
    fresh). A failed write is logged, never raised: it must not stop a sync."""

    def __init__(self, factory: sessionmaker[Session], worker: str, every_s: float) -> None:
        self._factory = factory
        self._worker = worker
        self._every_s = every_s
        self._last = float("-inf")

    def __call__(self, *_ignored: object) -> None:
        if time.monotonic() - self._last < self._every_s:
            return
        try:
            beat(self._factory, self._worker)
        except SQLAlchemyError as err:
            log.warning("heartbeat.failed", worker=self._worker, error_type=type(err).__name__)
            return
        self._last = time.monotonic()


def latest_heartbeat(session: Session) -> WorkerHeartbeat | None:
    return session.scalars(
        select(WorkerHeartbeat).order_by(WorkerHeartbeat.last_tick_at.desc()).limit(1)
    ).first()
