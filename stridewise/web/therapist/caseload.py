"""The caseload dashboard: who needs the therapist today, and why."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from core.clock import utcnow
from stridewise.web.caseload import FILTERS, caseload, filtered
from stridewise.web.deps import CurrentTherapist, SessionDep
from stridewise.web.svg import Day, sparkline
from stridewise.web.templating import render

router = APIRouter()


def spark_days(figures: dict) -> list[Day]:
    return [Day(date, steps, kind) for date, steps, kind in figures.get("spark", [])]


@router.get("/")
def dashboard(
    request: Request,
    session: SessionDep,
    therapist: CurrentTherapist,
    show: Annotated[str, Query(pattern="^(attention|all|disconnected)$")] = "all",
    q: Annotated[str, Query(max_length=100)] = "",
) -> Response:
    now = utcnow()
    everyone = caseload(session, therapist.id, now)
    rows = filtered(everyone, show, q)
    counts = {key: len(filtered(everyone, key, "")) for key in FILTERS}
    sparks = {r.id: sparkline(spark_days(r.figures), uid=f"s{i}") for i, r in enumerate(rows)}
    return render(request, "therapist/caseload.html", rows=rows, sparks=sparks, show=show,
                  q=q, filters=FILTERS, counts=counts, total=len(everyone), now=now)  # fmt: skip
