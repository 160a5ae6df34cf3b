"""The REST API under ``/api/v1``: bearer tokens, JSON, RFC 9457 problem details."""

from __future__ import annotations

from fastapi import APIRouter

from stridewise.web.api import clinic, fhir
from stridewise.web.errors import PROBLEM_RESPONSES

router = APIRouter(responses=PROBLEM_RESPONSES)
router.include_router(clinic.router)
router.include_router(fhir.router)
