"""How much minute data one sync asks for: all of the window (the first sync, the
daily full read, on demand), or a routine sync's :class:`core.source.MinuteScope`
with what is stored to compare against (two small indexed reads)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import patient_zone
from core.source import DateWindow, MinuteScope
from ingest.models import DailyTotalRow, StepIntervalRow
from ingest.sync.claims import ClaimedAccount
from ingest.sync.window import WindowPolicy, minutes_since


def minute_scope(
    factory: sessionmaker[Session],
    account: ClaimedAccount,
    window: DateWindow,
    now: datetime,
    policy: WindowPolicy,
    since: date | None = None,
) -> MinuteScope | None:
    """None for a full read (an explicit ``since`` is one too), else the routine
    scope: minutes from :func:`.window.minutes_since`, the window's stored daily
    totals, and the stored steps of that instant's day before it."""
    if since is not None:
        return None
    start = minutes_since(
        now, account.synced_until, account.changed_from, account.full_read_at, policy
    )
    if start is None:
        return None
    tail_day = start.astimezone(patient_zone(account.timezone)).date()
    totals = select(DailyTotalRow.local_date, DailyTotalRow.steps).where(
        DailyTotalRow.patient_id == account.patient_id,
        DailyTotalRow.provider == account.provider,
        DailyTotalRow.local_date.between(window.first, window.last),
    )
    before = select(func.coalesce(func.sum(StepIntervalRow.steps), 0)).where(
        StepIntervalRow.patient_id == account.patient_id,
        StepIntervalRow.provider == account.provider,
        StepIntervalRow.local_date == tail_day,
        StepIntervalRow.start_utc < start,
    )
    with factory() as session:
        known = dict(session.execute(totals).all())
        stored_before = session.scalar(before) or 0
    return MinuteScope(start, tail_day, known, stored_before, account.synced_until)
