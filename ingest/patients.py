"""Therapists and patients: creating and looking them up, with clear refusals."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import NotFound, StridewiseError
from ingest.models import Patient, Therapist


def check_timezone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as err:
        raise StridewiseError(
            f"unknown time zone {name!r}: use an IANA name such as Europe/London"
        ) from err
    return name


def add_therapist(
    session: Session, therapist_id: str, name: str, email: str, timezone: str | None = None
) -> Therapist:
    if "@" not in email:
        raise StridewiseError(f"{email!r} is not an email address")
    if session.get(Therapist, therapist_id) is not None:
        raise StridewiseError(f"therapist {therapist_id!r} already exists")
    therapist = Therapist(id=therapist_id, name=name, email=email,
                          timezone=check_timezone(timezone) if timezone else None)  # fmt: skip
    session.add(therapist)
    return therapist


def set_therapist_timezone(session: Session, therapist_id: str, timezone: str | None) -> Therapist:
    """Set (or, with None, clear) the zone a therapist's Monday report follows."""
    therapist = session.get(Therapist, therapist_id)
    if therapist is None:
        raise NotFound(f"no therapist {therapist_id!r}")
    therapist.timezone = check_timezone(timezone) if timezone else None
    return therapist


def add_patient(
    session: Session,
    patient_id: str,
    name: str,
    timezone: str | None,
    therapist_id: str,
    programme: str = "walkback",
    email: str | None = None,
) -> Patient:
    if session.get(Patient, patient_id) is not None:
        raise StridewiseError(f"patient {patient_id!r} already exists")
    if session.get(Therapist, therapist_id) is None:
        raise NotFound(f"no therapist {therapist_id!r}: add one with 'stridewise therapist add'")
    patient = Patient(
        id=patient_id,
        name=name,
        timezone=check_timezone(timezone) if timezone else None,
        therapist_id=therapist_id,
        programme=programme,
        overrides={},
        email=check_email(email) if email else None,
    )
    session.add(patient)
    return patient


def check_email(email: str) -> str:
    """A plausible address (one @, a dot in the domain, no spaces); delivery proves the rest."""
    local, _, domain = email.strip().partition("@")
    if not local or "." not in domain or " " in email.strip() or "@" in domain:
        raise StridewiseError(f"{email!r} is not an email address")
    return email.strip()


def set_patient_email(session: Session, patient_id: str, email: str | None) -> Patient:
    """Set (or, with None, clear) where the patient's messages go."""
    patient = get_patient(session, patient_id)
    patient.email = check_email(email) if email else None
    return patient


def get_patient(session: Session, patient_id: str) -> Patient:
    patient = session.get(Patient, patient_id)
    if patient is None:
        raise NotFound(f"no patient {patient_id!r} (see 'stridewise patient list')")
    return patient


def list_patients(session: Session, therapist_id: str | None = None) -> list[Patient]:
    query = select(Patient).order_by(Patient.id)
    if therapist_id:
        query = query.where(Patient.therapist_id == therapist_id)
    return list(session.scalars(query))
