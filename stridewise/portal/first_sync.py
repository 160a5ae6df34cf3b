"""The first sync after a link, started at once in the background so the
confirmation page can show its progress and result."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date, datetime

import structlog
from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from ingest.models import DailyTotalRow, Device, LinkedAccount, StepIntervalRow, SyncRun
from stridewise.wiring import App, run_cycle

log = structlog.get_logger("stridewise.portal")
WORKER = "web-first-sync"
_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="first-sync")


def start_first_sync(app: App, patient_id: str) -> None:
    def run() -> None:
        try:
            run_cycle(
                app.factory, app.settings, "web-first-sync", patient_id=patient_id, force=True
            )
        except Exception:  # a background thread has no one else to tell
            log.exception("first sync failed", patient=patient_id)

    _pool.submit(run)


@dataclass(frozen=True, slots=True)
class Progress:
    state: str  # waiting / running / done / failed
    days: int  # days with steps (intervals or the provider's daily totals) from this account
    first_day: date | None
    last_day: date | None
    error_kind: str | None
    devices: list[str]

    def as_json(self) -> dict:
        return {
            "state": self.state,
            "days": self.days,
            "first_day": self.first_day.isoformat() if self.first_day else None,
            "last_day": self.last_day.isoformat() if self.last_day else None,
            "error_kind": self.error_kind,
            "devices": self.devices,
        }


def progress(session: Session, account: LinkedAccount, since: datetime) -> Progress:
    """How the first sync since the link at ``since`` is going."""
    run = session.scalars(
        select(SyncRun)
        .where(SyncRun.account_id == account.id, SyncRun.started_at >= since)
        .order_by(SyncRun.started_at.desc())
        .limit(1)
    ).first()
    dates = union(
        *(
            select(model.local_date).where(
                model.patient_id == account.patient_id, model.provider == account.provider
            )
            for model in (StepIntervalRow, DailyTotalRow)
        )
    ).subquery()
    days, first, last = session.execute(
        select(func.count(), func.min(dates.c.local_date), func.max(dates.c.local_date))
    ).one()
    devices = session.scalars(
        select(Device.device).where(
            Device.patient_id == account.patient_id, Device.provider == account.provider
        )
    ).all()
    if run is None or run.outcome == "abandoned":  # a worker died: the next one retries
        state = "waiting"
    elif run.outcome == "running":
        state = "running"
    else:
        state = "failed" if run.outcome == "failed" else "done"
    return Progress(state, days, first, last, run.error_kind if run else None, list(devices))
