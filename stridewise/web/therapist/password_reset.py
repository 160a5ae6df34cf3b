"""Forgotten passwords: ask for a link by email, then choose a new password through it.

The link's token is in the path of ``/password-reset/{token}``; logs name the route
template only (``stridewise.web.errors.route_of``), never the path."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, BackgroundTasks, Form, Request
from fastapi.responses import Response

from core.errors import StridewiseError
from delivery.email import PermanentSendError, TransientSendError
from stridewise.jobs import delivery_config
from stridewise.settings import Settings
from stridewise.web.accounts import MIN_PASSWORD_LENGTH, LoginRefused, check_password_strength
from stridewise.web.deps import SessionDep, SettingsDep
from stridewise.web.patient.limits import LOOKUPS, limit
from stridewise.web.resets import (
    ResetRefused,
    check_link,
    request_reset,
    send_reset_email,
    use_link,
)
from stridewise.web.templating import render

log = structlog.get_logger("stridewise.web")
router = APIRouter()


@router.get("/password-reset")
def request_page(request: Request) -> Response:
    return render(request, "therapist/reset_request.html", email="", error=None)


def _send(settings: Settings, therapist_id: str, name: str, to: str, link: str) -> None:
    """After the answer has gone out, so a known address takes no longer to answer."""
    try:
        send_reset_email(delivery_config(settings), name, to, link)
    except (TransientSendError, PermanentSendError) as err:
        log.warning("password_reset.not_sent", therapist=therapist_id, error=str(err))


@router.post("/password-reset")
def request_link(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    tasks: BackgroundTasks,
    email: Annotated[str, Form(max_length=320)] = "",
) -> Response:
    if "@" not in email.strip():
        return render(request, "therapist/reset_request.html", status_code=422, email=email,
                      error="Enter the email address you sign in with.")  # fmt: skip
    client = request.client.host if request.client else "unknown"
    try:
        issued = request_reset(session, email, client)
    except LoginRefused as refused:
        return render(request, "therapist/reset_request.html", status_code=refused.status,
                      email=email, error=str(refused))  # fmt: skip
    if issued is not None:
        token, therapist = issued
        link = f"{settings.public_url.rstrip('/')}/password-reset/{token}"
        tasks.add_task(_send, settings, therapist.id, therapist.name, therapist.email, link)
    return render(request, "therapist/reset_sent.html")


def _form(request: Request, errors: dict[str, str], status_code: int = 200) -> Response:
    form = {"errors": errors, "values": {}}  # passwords are never sent back
    return render(request, "therapist/reset_form.html", status_code=status_code, form=form,
                  min_length=MIN_PASSWORD_LENGTH)  # fmt: skip


@router.get("/password-reset/{token}")
def new_password_page(request: Request, session: SessionDep, token: str) -> Response:
    limit(request, LOOKUPS)
    try:
        check_link(session, token)
    except ResetRefused as refused:
        return render(request, "therapist/reset_invalid.html", status_code=410,
                      reason=str(refused))  # fmt: skip
    return _form(request, {})


@router.post("/password-reset/{token}")
def set_new_password(
    request: Request,
    session: SessionDep,
    token: str,
    password: Annotated[str, Form(max_length=1024)] = "",
    confirm: Annotated[str, Form(max_length=1024)] = "",
) -> Response:
    limit(request, LOOKUPS)
    errors = {}
    try:
        check_password_strength(password)
    except StridewiseError as err:
        errors["password"] = f"{str(err).capitalize()}."
    if not errors and confirm != password:
        errors["confirm"] = "The two passwords are not the same. Type the new one again."
    try:
        if errors:
            check_link(session, token)
            return _form(request, errors, 422)
        use_link(session, token, password)
    except ResetRefused as refused:
        return render(request, "therapist/reset_invalid.html", status_code=410,
                      reason=str(refused))  # fmt: skip
    return render(request, "therapist/reset_done.html")
