"""The Garmin login of :mod:`adapters.garmin.login` split across two web requests.

The password form starts the login; when Garmin wants an emailed code, what
garminconnect keeps on its client to resume (the SSO session's cookies, the MFA
flow, its parameters and headers) is returned as a JSON-able dict, never the
password. The application encrypts and keeps that for minutes; the code form
rebuilds a client from it and finishes with the library's own ``resume_login``.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, ClassVar

import requests
from garminconnect import (
    GarminConnectAuthenticationError,
    GarminConnectConnectionError,
    GarminConnectTooManyRequestsError,
)

from adapters.garmin.adapter import SOCIAL_PROFILE
from adapters.garmin.client import current_tokens, new_client
from adapters.garmin.config import GarminConfig
from adapters.garmin.errors import causes, status_of
from adapters.garmin.login import GarminLink
from adapters.garmin.tokens import valid_tokens
from core.errors import StridewiseError

try:  # the library logs in through curl_cffi when it is installed
    from curl_cffi import requests as cffi_requests
except ImportError:  # pragma: no cover - curl_cffi ships with garminconnect's extras
    cffi_requests = None

_LOGIN_ERRORS = (
    GarminConnectAuthenticationError,
    GarminConnectConnectionError,
    GarminConnectTooManyRequestsError,
    requests.RequestException,
)
_MFA_FIELDS = ("_mfa_flow", "_mfa_method", "_mfa_login_params", "_mfa_post_headers",
               "_mfa_service_url")  # fmt: skip


class GarminLoginError(StridewiseError):
    """A login that failed; ``reason`` is wrong_password, wrong_code, rate_limited or
    unreachable, and the message is a sentence a patient can act on."""

    MESSAGES: ClassVar[dict[str, str]] = {
        "wrong_password": "Garmin did not accept that email and password. Check them and "
        "try again (they are the ones you use in the Garmin Connect app).",
        "wrong_code": "Garmin did not accept that code. Check the newest email from Garmin "
        "and type the code again.",
        "rate_limited": "Garmin is refusing logins for a while (too many attempts). Please "
        "wait an hour, then try again.",
        "unreachable": "Garmin Connect could not be reached or answered oddly. Please try "
        "again in a few minutes.",
        "no_profile": "This Garmin account has no Garmin Connect profile yet: open the "
        "Garmin Connect app once, then try again.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason


@dataclass(frozen=True, slots=True)
class NeedsCode:
    """Garmin emailed a code; ``state`` resumes the login (secret: encrypt it)."""

    state: dict


def _classify(err: Exception, mfa: bool) -> GarminLoginError:
    if status_of(err) == 429 or any(
        isinstance(e, GarminConnectTooManyRequestsError) for e in causes(err)
    ):
        return GarminLoginError("rate_limited")
    if isinstance(err, GarminConnectAuthenticationError):
        return GarminLoginError("wrong_code" if mfa else "wrong_password")
    return GarminLoginError("unreachable")


def _linked(garmin: Any) -> GarminLink:
    profile = garmin.connectapi(SOCIAL_PROFILE)
    name = profile.get("displayName") if isinstance(profile, dict) else None
    if not isinstance(name, str) or not name:
        raise GarminLoginError("no_profile")
    return GarminLink(valid_tokens(current_tokens(garmin)), name)


def _cookies(session: Any) -> list[dict]:
    jar = getattr(session.cookies, "jar", session.cookies)
    return [{"name": c.name, "value": c.value, "domain": c.domain, "path": c.path} for c in jar]


def _resume_state(client: Any) -> dict:
    session = client._mfa_session
    state = {name: getattr(client, name, None) for name in _MFA_FIELDS}
    state["cookies"] = _cookies(session)
    state["impersonate"] = getattr(session, "impersonate", None)
    widget = getattr(client, "_widget_last_resp", None)
    state["widget_text"] = widget.text if widget is not None else None
    return state


def start_login(config: GarminConfig, email: str, password: str) -> GarminLink | NeedsCode:
    """The password step: a finished link, or :class:`NeedsCode` when Garmin wants one."""
    garmin = new_client(config)
    try:
        status, _ = garmin.client.login(email, password, return_on_mfa=True)
        if status == "needs_mfa":
            return NeedsCode(_resume_state(garmin.client))
        return _linked(garmin)
    except _LOGIN_ERRORS as err:
        raise _classify(err, mfa=False) from err


def finish_login(config: GarminConfig, state: dict, code: str) -> GarminLink:
    """The code step, on a client rebuilt from :func:`start_login`'s state."""
    code = code.strip()
    if not code.isdigit():
        raise GarminLoginError("wrong_code")
    garmin = new_client(config)
    client = garmin.client
    impersonate = state.get("impersonate")
    if impersonate and cffi_requests is not None:
        session: Any = cffi_requests.Session(impersonate=impersonate)
    else:
        session = requests.Session()
    for cookie in state["cookies"]:
        session.cookies.set(
            cookie["name"], cookie["value"], domain=cookie["domain"], path=cookie["path"]
        )
    for name in _MFA_FIELDS:
        if state.get(name) is not None:
            setattr(client, name, state[name])
    client._mfa_session = session
    if state.get("widget_text") is not None:
        client._widget_last_resp = SimpleNamespace(text=state["widget_text"])
    try:
        client.resume_login(None, code)
        return _linked(garmin)
    except _LOGIN_ERRORS as err:
        raise _classify(err, mfa=True) from err
