"""The patient's own data, from the link in every message: what stridewise holds
(linked accounts, the last 8 weeks of days, alerts, pain reports), a pain report
form, downloads, unlinking, and deleting it all. Each route finds the patient from
the link and reads nothing that is not theirs."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import local_today, utcnow
from core.errors import StridewiseError
from ingest import dayview
from ingest.db import transaction
from ingest.linking import find_account, list_accounts, unlink_account
from ingest.models import LinkStatus, PainReport, Patient
from ingest.patients import get_patient
from ingest.programme_models import Alert
from rules.messages import ACTIVE, PATIENT
from rules.messages import render as render_alert
from rules.programme_config import patient_config
from rules.reports import add_pain
from stridewise.portal import export
from stridewise.portal.data_links import DataLinkRefused, find_data_link
from stridewise.portal.deletion import delete_patient
from stridewise.portal.invitations import RELINKABLE, create_invitation, invitation_url
from stridewise.web.deps import AppDep, SessionDep
from stridewise.web.patient.chart import step_chart
from stridewise.web.patient.limits import LOOKUPS, limit
from stridewise.web.patient.linking import PROVIDERS
from stridewise.web.templating import render

router = APIRouter()
WEEKS = 8


def _patient(request: Request, session: Session, token: str) -> Patient:
    limit(request, LOOKUPS)
    return get_patient(session, find_data_link(session, token).patient_id)


def _refused(request: Request, refused: DataLinkRefused) -> Response:
    status = 404 if refused.reason == "unknown" else 410
    return render(request, "patient/refused.html", status_code=status, message=str(refused))


def pain_advice(patient: Patient, score: int) -> str:
    """What a score means in the programme (Silbernagel's pain-monitoring model)."""
    config = patient_config(patient.programme, patient.overrides)
    if score <= config.safe_pain_score:
        return (f"Up to {config.safe_pain_score} out of 10 is safe while walking: keep "
                "to your plan.")  # fmt: skip
    if score < config.flare_pain_score:
        return (f"{config.safe_pain_score + 1} to {config.flare_pain_score - 1} out of 10 is "
                "acceptable if it has settled by the next morning. Keep your walks as planned, "
                "but do not add more today.")  # fmt: skip
    return (f"{config.flare_pain_score} or more out of 10 is too much for now. Keep your walks "
            "at their current length (do not add more) until it settles, and tell your "
            "physiotherapist if it is not better tomorrow morning.")  # fmt: skip


def _days(session: Session, patient: Patient, today: date, priority) -> list:
    first = today - timedelta(weeks=WEEKS) + timedelta(days=1)
    view = dayview.load(session, [patient.id], first, today, priority).days
    by_day = {
        row.local_date.date(): (int(row.steps), bool(row.provisional))
        for row in view.itertuples()
        if not pd.isna(row.steps)
    }
    return [
        (day, *by_day.get(day, (None, False)))
        for day in (first + timedelta(days=n) for n in range((today - first).days + 1))
    ]


def _page(request: Request, session: Session, app, token: str, **extra) -> Response:
    patient = _patient(request, session, token)
    today = local_today(utcnow(), patient.timezone)
    days = _days(session, patient, today, app.settings.source_priority)
    alerts = session.scalars(
        select(Alert)
        .where(
            Alert.patient_id == patient.id,
            Alert.audience == PATIENT,
            Alert.status.in_(ACTIVE),
            Alert.muted.is_(False),
        )
        .order_by(Alert.created_at.desc())
    )
    pain = session.scalars(
        select(PainReport)
        .where(PainReport.patient_id == patient.id)
        .order_by(PainReport.reported_at.desc())
        .limit(20)
    )
    context = {"score": None, "advice": None, "error": None, **extra}
    response = render(
        request,
        "patient/data.html",
        status_code=context.pop("status_code", 200),
        token=token,
        patient=patient,
        accounts=list_accounts(session, patient.id),
        providers=PROVIDERS,
        needs_relink=LinkStatus.NEEDS_RELINK.value,
        days=[d for d in days if d[1] is not None],
        chart=step_chart(days),
        weeks=WEEKS,
        alerts=[render_alert(a, today) for a in alerts],
        pain=list(pain),
        zone=patient.timezone,
        **context,
    )
    response.headers["Cache-Control"] = "no-store"  # health data: no copy in any cache
    return response


@router.get("/me/{token}")
def data_page(request: Request, session: SessionDep, app: AppDep, token: str) -> Response:
    try:
        return _page(request, session, app, token)
    except DataLinkRefused as refused:
        return _refused(request, refused)


@router.post("/me/{token}/pain")
def report_pain(
    request: Request,
    session: SessionDep,
    app: AppDep,
    token: str,
    score: Annotated[str, Form(max_length=3)] = "",
    note: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    try:
        patient = _patient(request, session, token)
        if not score.isdigit() or not 0 <= int(score) <= 10:
            return _page(request, session, app, token, status_code=422,
                         error="Choose a number from 0 (no pain) to 10 (worst pain).")  # fmt: skip
        with transaction(app.factory) as writing:
            add_pain(writing, patient.id, int(score), note.strip() or None)
        return _page(request, session, app, token, score=int(score),
                     advice=pain_advice(patient, int(score)))  # fmt: skip
    except DataLinkRefused as refused:
        return _refused(request, refused)


@router.get("/me/{token}/export.{kind}")
def download(request: Request, session: SessionDep, app: AppDep, token: str, kind: str) -> Response:
    try:
        patient = _patient(request, session, token)
    except DataLinkRefused as refused:
        return _refused(request, refused)
    if kind not in ("json", "csv"):
        return render(request, "patient/refused.html", status_code=404,
                      message="There is no such download.")  # fmt: skip
    today = local_today(utcnow(), patient.timezone)
    data = export.everything(session, patient.id, today, app.settings.source_priority)
    body = export.to_json(data) if kind == "json" else export.to_csv(data)
    media = "application/json" if kind == "json" else "text/csv"
    return Response(
        body,
        media_type=f"{media}; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="stridewise-my-data-{today}.{kind}"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/me/{token}/unlink")
def unlink(
    request: Request,
    session: SessionDep,
    app: AppDep,
    token: str,
    provider: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    try:
        patient = _patient(request, session, token)
        with transaction(app.factory) as writing:
            unlink_account(writing, patient.id, provider)
    except DataLinkRefused as refused:
        return _refused(request, refused)
    return RedirectResponse(f"/me/{token}", status_code=303)


@router.post("/me/{token}/relink")
def relink(
    request: Request,
    session: SessionDep,
    app: AppDep,
    token: str,
    provider: Annotated[str, Form(max_length=32)] = "",
) -> Response:
    """A fresh relink invitation for a disconnected account, opened at once."""
    try:
        patient = _patient(request, session, token)
        if provider not in RELINKABLE:
            raise StridewiseError("There is no such account to reconnect.")
        find_account(session, patient.id, provider)
        with transaction(app.factory) as writing:
            made = create_invitation(writing, patient.id, 1, "patient", provider)
    except DataLinkRefused as refused:
        return _refused(request, refused)
    url = invitation_url("", made.token, relink=True)
    return RedirectResponse(url, status_code=303)


@router.get("/me/{token}/delete")
def delete_page(request: Request, session: SessionDep, token: str) -> Response:
    try:
        patient = _patient(request, session, token)
    except DataLinkRefused as refused:
        return _refused(request, refused)
    return _delete_form(request, session, patient, token)


def _delete_form(request, session, patient: Patient, token: str, error=None) -> Response:
    linked = [a.provider for a in list_accounts(session, patient.id)]
    return render(request, "patient/delete.html", status_code=422 if error else 200,
                  token=token, error=error, linked=linked)  # fmt: skip


@router.post("/me/{token}/delete")
def delete_everything(
    request: Request,
    session: SessionDep,
    app: AppDep,
    token: str,
    confirm: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    try:
        patient = _patient(request, session, token)
    except DataLinkRefused as refused:
        return _refused(request, refused)
    if confirm != "delete":
        error = "Tick the box to confirm that everything should be deleted."
        return _delete_form(request, session, patient, token, error)
    session.close()
    deleted = delete_patient(app.engine, app.factory, app.settings, patient.id)
    return render(request, "patient/deleted.html", deleted=deleted, providers=PROVIDERS)
