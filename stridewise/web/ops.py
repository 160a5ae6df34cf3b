"""Operations: ``/healthz`` for orchestrators, ``/metrics`` for Prometheus."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

router = APIRouter(tags=["operations"])


@router.get("/healthz", include_in_schema=False)
def healthz(request: Request) -> JSONResponse:
    """200 while the database answers and this process's scheduler runs; 503 (so the
    replica is restarted) when either is down."""
    body = {"status": "ok", "database": "ok"}
    try:
        with request.app.state.factory() as session:
            session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        body.update(status="unavailable", database="unreachable")
    scheduler = request.app.state.scheduler
    if scheduler is not None:
        body["scheduler"] = "running" if scheduler.running else "stopped"
        if not scheduler.running:
            body["status"] = "unavailable"
    return JSONResponse(body, 200 if body["status"] == "ok" else 503)


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request) -> Response:
    return Response(generate_latest(request.app.state.metrics), media_type=CONTENT_TYPE_LATEST)
