"""OAuth tokens for one linked account, refreshed by google-auth.

A refresh happens at most once at a time per account, even across workers:
it runs inside :meth:`CredentialStore.refreshing` (a row lock), first checks
whether another worker already refreshed (version moved on and the token is
fresh), and saves the new tokens (encrypted) before anyone uses them. Refresh
tokens may rotate, so a lost save would orphan the link.

After ``invalid_grant`` the stored credentials are read once more: another
worker may have rotated the refresh token we held. Only if nothing changed is
the link declared dead (``AuthRevoked``).

The token endpoint always comes from the configuration (never from the stored file), so
the same code runs against Google and against the sandbox.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import google.auth.exceptions
import google.auth.transport
import httpx
from google.oauth2.credentials import Credentials

from adapters.google_health.config import GoogleHealthConfig
from core.errors import AuthRevoked, StridewiseError, Transient
from core.source import CredentialVault, StoredCredentials

ACTIVITY_SCOPE = "https://www.googleapis.com/auth/googlehealth.activity_and_fitness.readonly"
SETTINGS_SCOPE = "https://www.googleapis.com/auth/googlehealth.settings.readonly"
SCOPES = (ACTIVITY_SCOPE, SETTINGS_SCOPE)
# Refresh this long before the stated expiry so a token never dies mid-sync.
EXPIRY_MARGIN = timedelta(minutes=5)
# OAuth errors after which only a new consent helps.
DEAD_LINK_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client"}


class HttpxTransport(google.auth.transport.Request):
    """Lets google-auth send its token requests through our shared httpx client."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def __call__(self, url, method="GET", body=None, headers=None, timeout=None, **kwargs):
        try:
            response = self._http.request(
                method, url, content=body, headers=headers, timeout=timeout or 30
            )
        except httpx.HTTPError as err:
            raise google.auth.exceptions.TransportError(type(err).__name__) from err
        return _Response(response)


class _Response(google.auth.transport.Response):
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status(self) -> int:
        return self._response.status_code

    @property
    def headers(self):
        return self._response.headers

    @property
    def data(self) -> bytes:
        return self._response.content


def credentials_from_token_file(text: str) -> dict:
    """Validate an authorized-user JSON (as ``Credentials.to_json()`` writes it) and
    return the dict to store on the link."""
    try:
        info = json.loads(text)
    except ValueError as err:
        raise StridewiseError("the token file is not JSON") from err
    if not isinstance(info, dict):
        raise StridewiseError("the token file must hold a JSON object")
    missing = [k for k in ("refresh_token", "client_id", "client_secret") if not info.get(k)]
    if missing:
        raise StridewiseError(f"the token file lacks {', '.join(missing)}")
    scopes = info.get("scopes") or []
    if isinstance(scopes, str):
        scopes = scopes.split()
    if ACTIVITY_SCOPE not in scopes:
        raise StridewiseError(f"the token file was not granted {ACTIVITY_SCOPE}")
    try:
        credentials = Credentials.from_authorized_user_info({**info, "scopes": scopes})
    except ValueError as err:
        raise StridewiseError(f"the token file is not an authorized-user file: {err}") from err
    return stored_form(credentials)


def stored_form(credentials: Credentials) -> dict:
    return json.loads(credentials.to_json())


def google_credentials(data: dict, config: GoogleHealthConfig) -> Credentials:
    return Credentials(
        token=data.get("token"),
        refresh_token=data.get("refresh_token"),
        token_uri=config.token_url,
        client_id=data.get("client_id") or config.client_id,
        client_secret=data.get("client_secret") or config.client_secret,
        scopes=data.get("scopes"),
        expiry=_expiry(data),
    )


def _expiry(data: dict) -> datetime | None:
    """google-auth writes a naive UTC ISO time with a trailing Z."""
    raw = data.get("expiry")
    if not raw:
        return None
    try:
        return datetime.fromisoformat(str(raw).rstrip("Z")).replace(tzinfo=None)
    except ValueError:
        return None


class AccountTokens:
    """Access tokens for one account during one fetch (a :class:`TokenSource`)."""

    def __init__(
        self,
        store: CredentialVault,
        account_id: int,
        config: GoogleHealthConfig,
        transport: google.auth.transport.Request,
        clock: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._account_id = account_id
        self._config = config
        self._transport = transport
        self._clock = clock
        self._current: StoredCredentials | None = None
        self.refresh_calls = 0

    def token(self) -> str:
        if self._current is None:
            self._current = self._store.load(self._account_id)
        if self._fresh(self._current.data):
            return self._current.data["token"]
        return self._refresh()

    def rejected(self, token: str) -> None:
        if self._current and self._current.data.get("token") == token:
            self._refresh(rejected=token)

    def _fresh(self, data: dict, rejected: str | None = None) -> bool:
        expiry = _expiry(data)
        return bool(
            data.get("token")
            and data.get("token") != rejected
            and expiry is not None
            and expiry.replace(tzinfo=UTC) - EXPIRY_MARGIN > self._clock()
        )

    def _refresh(self, rejected: str | None = None) -> str:
        for _ in range(2):
            try:
                return self._refresh_once(rejected)
            except _InvalidGrant as dead:
                again = self._store.load(self._account_id)
                if again.version == dead.version:
                    raise AuthRevoked(f"Google refused the refresh token: {dead}") from None
                self._current = again  # another worker rotated the tokens meanwhile
                if self._fresh(again.data, rejected):
                    return again.data["token"]
        raise AuthRevoked("Google refused the refresh token twice in a row")

    def _refresh_once(self, rejected: str | None) -> str:
        seen = self._current.version if self._current else None
        with self._store.refreshing(self._account_id) as slot:
            current = slot.current
            if current.version != seen and self._fresh(current.data, rejected):
                self._current = current  # refreshed by someone else while we waited
                return current.data["token"]
            credentials = google_credentials(current.data, self._config)
            self.refresh_calls += 1
            try:
                credentials.refresh(self._transport)
            except google.auth.exceptions.RefreshError as err:
                error = _oauth_error(err)
                if error in DEAD_LINK_ERRORS:
                    raise _InvalidGrant(error, current.version) from err
                raise Transient(f"token refresh failed: {error or 'temporary error'}") from err
            except google.auth.exceptions.TransportError as err:
                raise Transient(f"token endpoint unreachable: {err}") from err
            except google.auth.exceptions.GoogleAuthError as err:  # any other kind: retry later
                raise Transient(f"token refresh failed: {type(err).__name__}") from err
            self._current = slot.save(stored_form(credentials))
        return credentials.token


class _InvalidGrant(Exception):
    def __init__(self, error: str, version: int) -> None:
        super().__init__(error)
        self.version = version


def _oauth_error(err: google.auth.exceptions.RefreshError) -> str:
    """The OAuth ``error`` code of a failed refresh ('' when the body had none)."""
    body = err.args[1] if len(err.args) > 1 else None
    error = body.get("error") if isinstance(body, dict) else None
    return error if isinstance(error, str) else ""
