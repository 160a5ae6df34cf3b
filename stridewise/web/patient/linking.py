"""Linking pages: the invitation, Google Health's consent round trip, Garmin's
password and code forms, the confirmation with the first sync's progress."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

import structlog
from fastapi import APIRouter, Form, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from adapters.garmin.web_login import GarminLoginError
from core.clock import utcnow
from ingest.db import transaction
from ingest.linking import find_account
from ingest.portal_models import Invitation
from stridewise.portal import garmin_flow, google_flow
from stridewise.portal.data_links import DATA_PATH, create_data_link
from stridewise.portal.first_sync import progress, start_first_sync
from stridewise.portal.invitations import InvitationRefused, check_usable, find_invitation
from stridewise.portal.linking import LinkRefused, invitation
from stridewise.portal.pending import PendingExpired
from stridewise.web.deps import AppDep, SessionDep
from stridewise.web.errors import route_of
from stridewise.web.patient.limits import GARMIN_LOGINS, LOOKUPS, limit
from stridewise.web.patient.session import (
    LinkSession,
    NoLinkSession,
    read_session,
    write_session,
)
from stridewise.web.templating import render

router = APIRouter()
log = structlog.get_logger("stridewise.portal")

PROVIDERS = {"google-health": "Fitbit or Pixel Watch (Google)", "garmin": "Garmin"}


def refused_page(request: Request, reason: str, message: str) -> Response:
    status = 404 if reason == "unknown" else 410
    return render(request, "patient/refused.html", status_code=status, message=message)


def _open(request: Request, session, token: str, template: str) -> Response:
    limit(request, LOOKUPS)
    try:
        row = find_invitation(session, token)
    except InvitationRefused as refused:
        return refused_page(request, refused.reason, str(refused))
    response = render(
        request, template, provider=row.provider, provider_name=PROVIDERS.get(row.provider or "")
    )
    write_session(request, response, LinkSession(row.id))
    return response


@router.get("/invite/{token}")
def invitation_page(request: Request, session: SessionDep, token: str) -> Response:
    return _open(request, session, token, "patient/landing.html")


@router.get("/relink/{token}")
def relink_page(request: Request, session: SessionDep, token: str) -> Response:
    return _open(request, session, token, "patient/relink.html")


def _usable(session, link: LinkSession) -> Invitation:
    row = invitation(session, link.invitation_id)
    check_usable(row)
    return row


def _linked(request: Request, app, link: LinkSession, provider: str) -> Response:
    """The link is stored: start its first sync and show the confirmation."""
    with app.factory() as session:
        patient_id = invitation(session, link.invitation_id).patient_id
    start_first_sync(app, patient_id)
    response = RedirectResponse("/link/done", status_code=303)
    write_session(request, response, LinkSession(link.invitation_id, provider, utcnow()))
    return response


def _failed(request: Request, message: str, status: int = 400) -> Response:
    return render(request, "patient/link_failed.html", status_code=status, message=message)


def _guarded(request: Request, step: Callable[[], Response]) -> Response:
    """``step``'s page, or the page saying why the link cannot go on (nothing stored)."""
    try:
        return step()
    except InvitationRefused as refused:
        log.info("portal.refused", route=route_of(request), reason=refused.reason)
        return refused_page(request, refused.reason, str(refused))
    except (LinkRefused, PendingExpired, NoLinkSession) as refused:
        reason = getattr(refused, "reason", type(refused).__name__)
        log.info("portal.refused", route=route_of(request), reason=reason)
        return _failed(request, str(refused))


@router.post("/link/google-health/start")
def google_start(request: Request, app: AppDep) -> Response:
    def step() -> Response:
        link = read_session(request)
        url = google_flow.start(app.factory, app.settings, link.invitation_id)
        return RedirectResponse(url, status_code=303)

    return _guarded(request, step)


@router.get("/link/google-health/callback")
def google_callback(request: Request, app: AppDep) -> Response:
    limit(request, LOOKUPS)

    def step() -> Response:
        link = read_session(request)
        params = dict(request.query_params)
        google_flow.finish(app.factory, app.settings, link.invitation_id, params)
        return _linked(request, app, link, "google-health")

    return _guarded(request, step)


@router.get("/link/garmin")
def garmin_form(request: Request, session: SessionDep) -> Response:
    def step() -> Response:
        _usable(session, read_session(request))
        return render(request, "patient/garmin.html", email="", error=None)

    return _guarded(request, step)


@router.post("/link/garmin")
def garmin_login(
    request: Request,
    app: AppDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    if not email.strip() or not password:
        return render(request, "patient/garmin.html", status_code=422, email=email,
                      error="Enter the email and password of your Garmin account.")  # fmt: skip
    limit(request, GARMIN_LOGINS)

    def step() -> Response:
        link = read_session(request)
        try:
            code = garmin_flow.start(app.factory, app.settings, link.invitation_id, email, password)
        except GarminLoginError as err:
            status = 429 if err.reason == "rate_limited" else 400
            return render(request, "patient/garmin.html", status_code=status, email=email,
                          error=str(err))  # fmt: skip
        if code is None:
            return _linked(request, app, link, "garmin")
        return render(request, "patient/garmin_code.html", key=code.key, error=None)

    return _guarded(request, step)


@router.post("/link/garmin/code")
def garmin_code(
    request: Request,
    app: AppDep,
    key: Annotated[str, Form(max_length=128)] = "",
    code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    limit(request, GARMIN_LOGINS)

    def step() -> Response:
        link = read_session(request)
        try:
            garmin_flow.finish(app.factory, app.settings, link.invitation_id, key, code)
        except GarminLoginError as err:
            if err.reason == "wrong_code":
                return render(request, "patient/garmin_code.html", status_code=400, key=key,
                              error=str(err))  # fmt: skip
            return _failed(request, str(err), 429 if err.reason == "rate_limited" else 400)
        return _linked(request, app, link, "garmin")

    return _guarded(request, step)


def _confirmation(session, link: LinkSession) -> dict:
    if link.provider is None or link.linked_at is None:
        raise LinkRefused("state")
    row = invitation(session, link.invitation_id)
    account = find_account(session, row.patient_id, link.provider)
    return {
        "provider_name": PROVIDERS[link.provider],
        "timezone": account.patient.timezone,
        "progress": progress(session, account, link.linked_at),
    }


@router.get("/link/done")
def link_done(request: Request, session: SessionDep) -> Response:
    def step() -> Response:
        context = _confirmation(session, read_session(request))
        return render(request, "patient/done.html", **context)

    return _guarded(request, step)


@router.get("/link/progress")
def link_progress(request: Request, session: SessionDep) -> Response:
    try:
        context = _confirmation(session, read_session(request))
    except (LinkRefused, NoLinkSession) as refused:
        return JSONResponse({"state": "unknown", "detail": str(refused)}, 404)
    return JSONResponse(
        {**context["progress"].as_json(), "timezone": context["timezone"]},
        headers={"Cache-Control": "no-store"},
    )


@router.post("/link/my-data")
def my_data(request: Request, app: AppDep) -> Response:
    """From the confirmation page to the patient's own data page (a fresh data link)."""

    def step() -> Response:
        link = read_session(request)
        if link.linked_at is None:
            raise LinkRefused("state")
        with transaction(app.factory) as session:
            patient_id = invitation(session, link.invitation_id).patient_id
            token = create_data_link(session, patient_id, app.settings.invitation_days)
        return RedirectResponse(DATA_PATH + token, status_code=303)

    return _guarded(request, step)
