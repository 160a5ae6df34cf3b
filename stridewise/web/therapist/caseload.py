"""The caseload dashboard: who needs the therapist today, and why."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from stridewise.web.deps import CurrentTherapist, SessionDep
from stridewise.web.templating import render

router = APIRouter()


@router.get("/")
def caseload(request: Request, session: SessionDep, therapist: CurrentTherapist) -> Response:
    return render(request, "therapist/caseload.html", rows=[])
