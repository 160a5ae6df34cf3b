"""Google's authorization-code flow with PKCE and ``state``, up to the new
account's identity; storing the link is the application's job.

The redirect comes back to a one-shot HTTP listener on a loopback port (the
"installed app" pattern). Who opens the consent URL is a parameter: the CLI
prints it (and tries a browser); tests and the demo follow it with httpx,
which the sandbox answers with an immediate consent.

Not google-auth-oauthlib's ``InstalledAppFlow``: oauthlib refuses a plain-http
token endpoint (the loopback sandbox) unless a process-wide environment flag
is set, and it sends through ``requests`` instead of our injected client.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlparse

import httpx

from adapters.google_health.api import HealthApi
from adapters.google_health.auth import SCOPES
from adapters.google_health.config import GoogleHealthConfig
from core.clock import utcnow
from core.errors import ProviderError, StridewiseError

PROVIDER = "google-health"


class LinkFailed(StridewiseError):
    pass


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    url: str
    state: str
    verifier: str
    redirect_uri: str


@dataclass(frozen=True, slots=True)
class GoogleIdentity:
    """Who consented: Google's user id and the zone set in their Fitbit settings."""

    health_user_id: str
    timezone: str | None


def consent_request(
    config: GoogleHealthConfig, redirect_uri: str, login_hint: str | None = None
) -> ConsentRequest:
    if not config.client_id:
        raise LinkFailed("STRIDEWISE_GOOGLE_CLIENT_ID is not set")
    verifier = secrets.token_urlsafe(64)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    state = secrets.token_urlsafe(24)
    params = {
        "client_id": config.client_id,
        "redirect_uri": redirect_uri,
        "response_type": "code",
        "scope": " ".join(SCOPES),
        "state": state,
        "code_challenge": challenge.decode().rstrip("="),
        "code_challenge_method": "S256",
        "access_type": "offline",  # a refresh token comes only with offline access
        "prompt": "consent",
    }
    if login_hint:
        params["login_hint"] = login_hint
    url = f"{config.authorize_url}?{urlencode(params)}"
    return ConsentRequest(url, state, verifier, redirect_uri)


class _Receiver(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        query = parse_qs(urlparse(self.path).query)
        if not ("code" in query or "error" in query):
            self.send_error(404)
            return
        self.server.redirect_params = {key: values[0] for key, values in query.items()}  # type: ignore[attr-defined]
        self.server.received.set()  # type: ignore[attr-defined]
        body = b"stridewise: the account is linked; you can close this window.\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # the query holds the code: never log it
        pass


@contextmanager
def loopback_receiver(port: int = 0) -> Iterator[ThreadingHTTPServer]:
    """A listener on 127.0.0.1 for the one redirect; ``.redirect_uri`` says where."""
    server = ThreadingHTTPServer(("127.0.0.1", port), _Receiver)
    server.received = threading.Event()  # type: ignore[attr-defined]
    server.redirect_params = {}  # type: ignore[attr-defined]
    server.redirect_uri = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def run_consent(
    config: GoogleHealthConfig,
    open_url: Callable[[str], None],
    http: httpx.Client,
    port: int = 0,
    login_hint: str | None = None,
    timeout_s: float = 300,
) -> dict:
    """Consent -> authorized-user credentials (the dict stored on the link)."""
    with loopback_receiver(port) as receiver:
        request = consent_request(config, receiver.redirect_uri, login_hint)  # type: ignore[attr-defined]
        open_url(request.url)
        if not receiver.received.wait(timeout_s):  # type: ignore[attr-defined]
            raise LinkFailed(f"no consent came back within {timeout_s:.0f} s")
        params = receiver.redirect_params  # type: ignore[attr-defined]
    if params.get("state") != request.state:
        raise LinkFailed("the redirect's state does not match: refusing it (possible forgery)")
    if "error" in params:
        raise LinkFailed(f"consent was not given: {params['error']}")
    return exchange_code(config, http, request, params["code"])


def exchange_code(
    config: GoogleHealthConfig, http: httpx.Client, request: ConsentRequest, code: str
) -> dict:
    try:
        response = http.post(
            config.token_url,
            data={
                "grant_type": "authorization_code",
                "code": code,
                "code_verifier": request.verifier,
                "redirect_uri": request.redirect_uri,
                "client_id": config.client_id,
                "client_secret": config.client_secret or "",
            },
        )
        body = response.json()
    except (httpx.HTTPError, ValueError) as err:
        raise LinkFailed(f"the token exchange failed: {type(err).__name__}") from err
    if response.status_code != 200 or not isinstance(body, dict):
        error = body.get("error") if isinstance(body, dict) else None
        raise LinkFailed(f"the token exchange was refused: HTTP {response.status_code} {error}")
    if not body.get("refresh_token") or not body.get("access_token"):
        raise LinkFailed("Google sent no refresh token (offline access was not granted)")
    expiry = utcnow() + timedelta(seconds=int(body.get("expires_in", 3600)))
    return {
        "token": body["access_token"],
        "refresh_token": body["refresh_token"],
        "token_uri": config.token_url,
        "client_id": config.client_id,
        "client_secret": config.client_secret or "",
        "scopes": str(body.get("scope", " ".join(SCOPES))).split(),
        "expiry": expiry.replace(tzinfo=None).isoformat() + "Z",
    }


class FixedToken:
    """A token used as it is (the one just obtained at consent): nothing to refresh."""

    def __init__(self, token: str) -> None:
        self._token = token

    def token(self) -> str:
        return self._token

    def rejected(self, token: str) -> None:
        raise LinkFailed("Google refused the token it just issued")


def read_identity(
    config: GoogleHealthConfig, http: httpx.Client, credentials: dict
) -> GoogleIdentity:
    """Who the new credentials belong to, read with the token just issued."""
    api = HealthApi(http, config.api_url, FixedToken(credentials["token"]))
    try:
        identity, user_settings = api.identity(), api.settings()
    except ProviderError as err:
        raise LinkFailed(f"Google Health refused the new link ({err.kind}): {err}") from err
    health_user_id = identity.get("healthUserId")
    if not isinstance(health_user_id, str) or not health_user_id:
        raise LinkFailed("Google Health sent no healthUserId")
    zone = user_settings.get("timeZone")
    return GoogleIdentity(health_user_id, zone if isinstance(zone, str) and zone else None)


def follow_consent(http: httpx.Client) -> Callable[[str], None]:
    """An ``open_url`` for a consent screen that answers at once (the sandbox):
    follow its redirect to our loopback listener."""

    def open_url(url: str) -> None:
        response = http.get(url, follow_redirects=True)
        if response.status_code != 200:
            raise LinkFailed(f"the consent page answered HTTP {response.status_code}")

    return open_url
