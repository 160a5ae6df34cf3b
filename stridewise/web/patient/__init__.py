"""Patients' pages, reached through one-time invitation links and signed data links;
``create_app`` mounts the router with CSRF protection on every form."""

from __future__ import annotations

from fastapi import APIRouter

from stridewise.web.patient import data, linking

router = APIRouter()
router.include_router(linking.router)
router.include_router(data.router)
