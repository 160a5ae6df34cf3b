"""What patients and therapists tell us: pain scores, exempt days, a level set by hand.

Each function validates its input and raises ``StridewiseError`` with a clear
message for anything a person could get wrong.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import patient_zone, utcnow
from core.errors import StridewiseError
from ingest.models import PainReport
from ingest.patients import get_patient
from ingest.programme_models import EXEMPT_REASONS, ExemptDay, LevelOverride


def _zone(session: Session, patient_id: str) -> ZoneInfo:
    return patient_zone(get_patient(session, patient_id).timezone)


def add_pain(
    session: Session,
    patient_id: str,
    score: int,
    note: str | None = None,
    at: datetime | None = None,
    now: datetime | None = None,
) -> PainReport:
    """Record a 0-10 pain score; a naive ``at`` is the patient's local time."""
    zone = _zone(session, patient_id)
    now = now or utcnow()
    if not 0 <= score <= 10:
        raise StridewiseError(f"pain score {score} is outside 0-10")
    at = now if at is None else at if at.tzinfo else at.replace(tzinfo=zone)
    if at > now:
        raise StridewiseError(f"{at.isoformat()} is in the future")
    report = PainReport(patient_id=patient_id, score=score, note=note, reported_at=at)
    session.add(report)
    session.flush()
    return report


def add_exempt(
    session: Session,
    patient_id: str,
    day: date,
    reason: str,
    note: str | None = None,
    now: datetime | None = None,
) -> ExemptDay:
    """Mark a local day as exempt (or change its reason); future days are refused."""
    zone = _zone(session, patient_id)
    if reason not in EXEMPT_REASONS:
        raise StridewiseError(f"reason must be one of {', '.join(EXEMPT_REASONS)}, not {reason!r}")
    today = (now or utcnow()).astimezone(zone).date()
    if day > today:
        raise StridewiseError(f"{day} is in the future (today is {today} for this patient)")
    exempt = session.scalars(
        select(ExemptDay).where(ExemptDay.patient_id == patient_id, ExemptDay.local_date == day)
    ).one_or_none()
    if exempt is None:
        exempt = ExemptDay(patient_id=patient_id, local_date=day)
        session.add(exempt)
    exempt.reason, exempt.note = reason, note
    session.flush()
    return exempt


def set_level(
    session: Session, patient_id: str, week_start: date, level: int, note: str | None = None
) -> LevelOverride:
    """A therapist's level for the programme week starting ``week_start`` and on."""
    get_patient(session, patient_id)
    if level < 0:
        raise StridewiseError(f"level {level} is below 0")
    override = session.scalars(
        select(LevelOverride).where(
            LevelOverride.patient_id == patient_id, LevelOverride.week_start == week_start
        )
    ).one_or_none()
    if override is None:
        override = LevelOverride(patient_id=patient_id, week_start=week_start)
        session.add(override)
    override.level, override.note = level, note
    session.flush()
    return override


def parse_instant(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError as err:
        raise StridewiseError(
            f"--at: {value!r} is not a time like 2026-03-08T08:30 or 2026-03-08T08:30+01:00"
        ) from err
