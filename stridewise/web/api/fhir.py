"""``GET /api/v1/patients/{id}/fhir``: the patient's FHIR R4 Bundle for an EHR.

The same Bundle as ``stridewise export steps --format fhir``, as
``application/fhir+json``. A therapist reads only their own patients: anyone
else's is a 404, as if it did not exist.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse

from core.clock import local_today, utcnow
from core.errors import NotFound
from ingest.models import Patient
from interop.export import patient_bundle
from stridewise.web.api.ranges import checked_range
from stridewise.web.deps import ApiTherapist, SessionDep, SettingsDep

router = APIRouter()
FHIR_JSON = "application/fhir+json"


@router.get(
    "/patients/{patient_id}/fhir",
    summary="The patient's steps, weekly walking minutes, goal and plan as a FHIR Bundle",
    response_class=JSONResponse,
    responses={200: {"content": {FHIR_JSON: {}}, "description": "a collection Bundle"}},
)
def patient_fhir(
    patient_id: str,
    session: SessionDep,
    settings: SettingsDep,
    therapist: ApiTherapist,
    first: Annotated[date, Query(alias="from", description="first local date")],
    last: Annotated[date, Query(alias="to", description="last local date (included)")],
) -> JSONResponse:
    patient = session.get(Patient, patient_id)
    if patient is None or patient.therapist_id != therapist.id:
        raise NotFound(f"no patient {patient_id!r}")
    first, last = checked_range(first, last, local_today(utcnow(), patient.timezone))
    data = patient_bundle(session, patient_id, first, last, utcnow(), settings.source_priority)
    return JSONResponse(data, media_type=FHIR_JSON)
