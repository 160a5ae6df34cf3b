"""Patients' pages, reached through one-time invitation links and signed data links;
``create_app`` mounts the router with CSRF protection on every form."""

from __future__ import annotations

from fastapi import APIRouter

from stridewise.web.patient import data, linking
from stridewise.web.patient.chart import patient_time
from stridewise.web.templating import templates

templates.env.filters["patient_time"] = patient_time
router = APIRouter()
router.include_router(linking.router)
router.include_router(data.router)
