"""What a therapist may do to their own patients, shared by the pages and the API.
Anything not the therapist's is ``NotFound``, exactly like something that does not
exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import local_today, utcnow
from core.errors import NotFound, StridewiseError
from ingest.access_models import AlertSnooze
from ingest.models import Patient, Therapist
from ingest.programme_models import Alert
from rules.enrolment import programme_start, start_programme
from rules.programme_config import patient_config
from rules.reports import set_level

SNOOZE_DAYS = (1, 3, 7)


def owned_patient(session: Session, therapist: Therapist, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None or patient.therapist_id != therapist.id:
        raise NotFound(f"no patient {patient_id!r}")
    return patient


# Ids are 64-bit: a larger number names no alert (and would overflow the driver).
MAX_ID = 2**63 - 1


def owned_alert(session: Session, therapist: Therapist, alert_id: int) -> Alert:
    if not 1 <= alert_id <= MAX_ID:
        raise NotFound(f"no alert {alert_id}")
    found = session.execute(
        select(Alert)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Alert.id == alert_id, Patient.therapist_id == therapist.id)
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"no alert {alert_id}")
    return found


def acknowledge(session: Session, therapist: Therapist, alert_id: int) -> Alert:
    """Mark an open alert as seen (idempotent); closed and withdrawn ones stay as they are."""
    alert = owned_alert(session, therapist, alert_id)
    if alert.status == "open":
        alert.status = "acknowledged"
    session.flush()
    return alert


def snooze(
    session: Session, therapist: Therapist, alert_id: int, days: int, now: datetime | None = None
) -> AlertSnooze:
    if days not in SNOOZE_DAYS:
        raise StridewiseError(f"snooze for {', '.join(map(str, SNOOZE_DAYS))} days, not {days}")
    alert = owned_alert(session, therapist, alert_id)
    until = (now or utcnow()) + timedelta(days=days)
    row = session.get(AlertSnooze, alert.id)
    if row is None:
        row = AlertSnooze(alert_id=alert.id, therapist_id=therapist.id, until=until)
        session.add(row)
    row.until, row.therapist_id = until, therapist.id
    session.flush()
    return row


# The programme form: field -> (programme setting, label, lowest, highest).
SETTINGS = {
    "cadence_threshold": ("cadence_threshold", "Cadence threshold (steps per minute)", 60, 140),
    "walks_per_week": ("goal_walks_per_week", "Goal: walks per week", 1, 7),
    "minutes_per_walk": ("goal_minutes_per_walk", "Goal: minutes per walk", 5, 90),
}
MAX_LEVEL = 40


@dataclass
class ProgrammeForm:
    """The adjustment form's values as typed, and a message per field that is wrong."""

    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)


def programme_values(patient: Patient, start: date | None, level: int | None) -> dict[str, str]:
    config = patient_config(patient.programme, patient.overrides)
    values = {name: str(getattr(config, key)) for name, (key, *_rest) in SETTINGS.items()}
    values["start_date"] = start.isoformat() if start else ""
    values["level"] = "" if level is None else str(level)
    return values


def _whole(text: str, label: str, low: int, high: int) -> tuple[int | None, str | None]:
    try:
        value = int(text.strip())
    except ValueError:
        return None, f"Enter {label.lower()} as a whole number, such as {low}."
    if not low <= value <= high:
        return None, f"{label} must be between {low} and {high}."
    return value, None


def adjust_programme(
    session: Session,
    patient: Patient,
    form: dict[str, str],
    current_week: date | None,
    current_level: int | None,
    now: datetime | None = None,
) -> ProgrammeForm:
    """Validate every field first; apply them only when all are right (then return no
    errors). ``current_week``: the programme week a level change applies from."""
    result = ProgrammeForm(values=dict(form))
    today = local_today(now or utcnow(), patient.timezone)
    start: date | None = None
    text = form.get("start_date", "").strip()
    if text:
        try:
            start = date.fromisoformat(text)
        except ValueError:
            result.errors["start_date"] = "Enter the start date as YYYY-MM-DD, such as 2026-03-02."
        else:
            if start > today + timedelta(days=28):
                result.errors["start_date"] = "The start date can be at most 4 weeks ahead."
    level = None
    if form.get("level", "").strip():
        if current_week is None:
            result.errors["level"] = "The level can be set once the programme has started."
        else:
            level, message = _whole(form["level"], "Level", 0, MAX_LEVEL)
            if message:
                result.errors["level"] = message
    settings = {}
    for name, (key, label, low, high) in SETTINGS.items():
        value, message = _whole(form.get(name, ""), label, low, high)
        if message:
            result.errors[name] = message
        settings[key] = value
    if result.errors:
        return result
    if start is not None and start != programme_start(session, patient.id):
        start_programme(session, patient.id, start)
    if level is not None and current_week is not None and level != current_level:
        set_level(session, patient.id, current_week, level, note="set on the patient page")
    defaults = patient_config(patient.programme, None)
    overrides = dict(patient.overrides or {})
    for key, value in settings.items():
        if value == getattr(defaults, key):
            overrides.pop(key, None)
        else:
            overrides[key] = value
    patient.overrides = overrides
    session.flush()
    return result
