"""The dependencies routes declare, in one ``Annotated`` style:

    def page(session: SessionDep, therapist: CurrentTherapist): ...

``CurrentTherapist`` is the signed-in browser (cookie; 401 shows the sign-in
page), ``ApiTherapist`` the bearer token's owner (401 problem details)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session

from ingest.models import Therapist
from stridewise.settings import Settings
from stridewise.web.accounts import session_therapist, token_therapist
from stridewise.web.signing import unsign
from stridewise.wiring import App

SESSION_COOKIE = "sw_session"


def _app(request: Request) -> App:
    return request.app.state.app


def _settings(request: Request) -> Settings:
    return request.app.state.app.settings


def _session(request: Request) -> Iterator[Session]:
    """One database session per request; routes that write commit themselves."""
    with request.app.state.factory() as session:
        yield session


AppDep = Annotated[App, Depends(_app)]
SettingsDep = Annotated[Settings, Depends(_settings)]
SessionDep = Annotated[Session, Depends(_session)]


def _current_therapist(request: Request, session: SessionDep) -> Therapist:
    signed = request.cookies.get(SESSION_COOKIE)
    max_age = request.app.state.app.settings.session_hours * 3600
    token = unsign(request.app.state.signing_key, signed, max_age) if signed else None
    therapist = session_therapist(session, token) if token else None
    if therapist is None:
        raise HTTPException(401, "Sign in to continue.")
    request.state.therapist = therapist
    return therapist


_bearer = HTTPBearer(auto_error=False, description="stridewise api-token create --therapist T")


def _api_therapist(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Therapist:
    therapist = token_therapist(session, credentials.credentials) if credentials else None
    if therapist is None:
        raise HTTPException(
            401, "A valid bearer token is required.", headers={"WWW-Authenticate": "Bearer"}
        )
    return therapist


CurrentTherapist = Annotated[Therapist, Depends(_current_therapist)]
ApiTherapist = Annotated[Therapist, Depends(_api_therapist)]
