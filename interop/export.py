"""The three exports as the CLI and the API call them: one patient's Bundle, one
patient's IEEE 1752.1 data point, the whole clinic as Bulk Data NDJSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from sqlalchemy.orm import Session

from ingest import dayview
from ingest.patients import get_patient
from interop.bulk import BulkReport, write_ndjson
from interop.fhir import bundle, patient_resources, stable_id
from interop.ieee import data_point
from interop.slices import CHUNK_PATIENTS, clinic_slices, load_slices
from interop.validate import checked


def patient_bundle(
    session: Session,
    patient_id: str,
    first: date,
    last: date,
    now: datetime,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
) -> dict:
    """A ``collection`` Bundle of the patient's resources for the local-date range."""
    patient = get_patient(session, patient_id)
    (s,) = load_slices(session, [patient], now, first, last, source_priority=source_priority)
    resources = [checked(r) for r in patient_resources(s, first, last)]
    bundle_id = stable_id(patient_id, "Bundle", f"{first}/{last}")
    return checked(bundle(resources, bundle_id, now))


def patient_data_point(
    session: Session,
    patient_id: str,
    first: date,
    last: date,
    now: datetime,
    per_day: bool = False,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
) -> dict:
    """The patient's activity as one IEEE 1752.1 data point."""
    patient = get_patient(session, patient_id)
    (s,) = load_slices(
        session, [patient], now, first, last, with_intervals=True, source_priority=source_priority
    )
    return data_point(s, now, first, last, per_day)


def clinic_ndjson(
    session: Session,
    directory: Path,
    now: datetime,
    first: date | None = None,
    last: date | None = None,
    patient_ids: Sequence[str] | None = None,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
    chunk: int = CHUNK_PATIENTS,
) -> BulkReport:
    """Every patient (or the given ones) into ``directory/<Type>.ndjson``, streamed
    ``chunk`` patients at a time (memory grows with the chunk, not the clinic)."""
    if patient_ids is not None:
        for pid in patient_ids:
            get_patient(session, pid)
    slices = clinic_slices(session, now, patient_ids, chunk, source_priority=source_priority)
    return write_ndjson(slices, directory, first, last)
