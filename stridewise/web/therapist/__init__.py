"""Therapists' pages: sign-in, password reset, the caseload, each patient."""

from __future__ import annotations

from fastapi import APIRouter

from stridewise.web.therapist import auth, caseload, password_reset, patients

router = APIRouter()
router.include_router(auth.router)
router.include_router(password_reset.router)
router.include_router(caseload.router)
router.include_router(patients.router)
