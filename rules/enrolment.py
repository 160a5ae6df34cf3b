"""Explicit enrolment (principle 7): the programme starts on a date the therapist sets.

Days before it are history: the baseline when they cover it, never judged. A
patient without a start date gets no programme findings, only data-quality ones.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.orm import Session

from ingest.patients import get_patient
from ingest.programme_models import ProgrammeStart


def start_programme(session: Session, patient_id: str, day: date) -> ProgrammeStart:
    """Start (or restart, moving the date) ``patient_id``'s programme on local date ``day``."""
    get_patient(session, patient_id)
    start = session.get(ProgrammeStart, patient_id)
    if start is None:
        start = ProgrammeStart(patient_id=patient_id, start_date=day)
        session.add(start)
    start.start_date = day
    session.flush()
    return start


def programme_start(session: Session, patient_id: str) -> date | None:
    start = session.get(ProgrammeStart, patient_id)
    return start.start_date if start else None
