"""Sign-in and sign-out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from stridewise.web.accounts import LoginPolicy, LoginRefused, sign_in, sign_out
from stridewise.web.deps import SESSION_COOKIE, SessionDep, SettingsDep
from stridewise.web.signing import sign, unsign
from stridewise.web.templating import render

router = APIRouter()


def _local(target: str | None) -> str:
    """Only a path on this site: never an open redirect."""
    if target and target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/"


@router.get("/login")
def login_page(request: Request, next: str | None = None) -> Response:
    return render(request, "therapist/login.html", next=_local(next), email="", error=None)


@router.post("/login")
def login(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    email: Annotated[str, Form(max_length=320)] = "",
    password: Annotated[str, Form(max_length=1024)] = "",
    next: Annotated[str | None, Form()] = None,
) -> Response:
    policy = LoginPolicy(
        max_failures=settings.login_max_failures,
        lockout=timedelta(minutes=settings.login_lockout_minutes),
        session_length=timedelta(hours=settings.session_hours),
    )
    if not email.strip() or not password:
        return render(request, "therapist/login.html", status_code=422, next=_local(next),
                      email=email, error="Enter your email and your password.")  # fmt: skip
    client = request.client.host if request.client else "unknown"
    try:
        token, _therapist = sign_in(session, email, password, client, policy)
    except LoginRefused as refused:
        return render(request, "therapist/login.html", status_code=refused.status,
                      next=_local(next), email=email, error=str(refused))  # fmt: skip
    response = RedirectResponse(_local(next), status_code=303)
    request.app.state.cookies.set(
        response, SESSION_COOKIE, sign(request.app.state.signing_key, token),
        settings.session_hours * 3600,
    )  # fmt: skip
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    signed = request.cookies.get(SESSION_COOKIE)
    max_age = settings.session_hours * 3600
    token = unsign(request.app.state.signing_key, signed, max_age) if signed else None
    if token:
        sign_out(session, token)
    response = RedirectResponse("/login", status_code=303)
    request.app.state.cookies.clear(response, SESSION_COOKIE)
    return response
