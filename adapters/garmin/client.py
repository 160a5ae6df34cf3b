"""The one place a ``garminconnect`` client is built and pointed at its hosts.

garminconnect 0.3.2 accepts only Garmin's own domains and hard-codes the DI
OAuth token URL, so the configured hosts are applied here and nowhere else:
``_connectapi`` (data) and ``_sso`` (login) are attributes set after
construction, and the token URL goes through ``_http_post``, the single method
the library uses for both the token exchange at login and the refresh. Data calls
all pass ``_run_request``, where the configured timeout is applied.
"""

from __future__ import annotations

import json
import logging
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
import requests.adapters
from garminconnect import Garmin
from garminconnect.client import DI_TOKEN_URL, Client

from adapters.garmin.config import GarminConfig

# The library logs a full traceback at ERROR for every failed call, including the
# expected 429s; errors are translated and logged by us instead (never tokens).
logging.getLogger("garminconnect").setLevel(logging.CRITICAL)

TOKEN_KEYS = ("di_token", "di_refresh_token", "di_client_id")


def api_session() -> requests.Session:
    """One connection pool for a process's data calls. The library builds a new
    session (a new connection, TLS included) for every call; this one is shared by
    every account's client, so it keeps no cookies: nothing of one account's
    answers may ride along on another's requests (each call carries its own token)."""
    session = requests.Session()
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = requests.adapters.HTTPAdapter(pool_connections=4, pool_maxsize=32)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


class _ConfiguredClient(Client):
    """The library's client with the DI token endpoint taken from the configuration."""

    def __init__(self, config: GarminConfig, api: requests.Session | None = None) -> None:
        super().__init__()
        self._connectapi = config.api_url.rstrip("/")
        self._sso = config.sso_url.rstrip("/")
        self._token_url = config.token_url
        self._timeout = config.timeout_s
        self._api = api

    def _fresh_api_session(self) -> requests.Session:
        return self._api if self._api is not None else super()._fresh_api_session()

    def _http_post(self, url: str, **kwargs: Any) -> Any:
        return super()._http_post(self._token_url if url == DI_TOKEN_URL else url, **kwargs)

    def _run_request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Every data call; the library's fixed 15 s becomes the configured timeout."""
        kwargs.setdefault("timeout", self._timeout)
        return super()._run_request(method, path, **kwargs)


def new_client(config: GarminConfig, api: requests.Session | None = None) -> Garmin:
    """A client pointed at the configured hosts, holding no credentials yet; its
    data calls go through ``api`` when given (see :func:`api_session`)."""
    garmin = Garmin()
    garmin.client = _ConfiguredClient(config, api)
    return garmin


def client_with_tokens(
    config: GarminConfig, tokens: dict, api: requests.Session | None = None
) -> Garmin:
    """A client that uses stored tokens (loading them is not a login: no password)."""
    garmin = new_client(config, api)
    garmin.client.loads(json.dumps({key: tokens.get(key) for key in TOKEN_KEYS}))
    return garmin


def current_tokens(garmin: Garmin) -> dict:
    return json.loads(garmin.client.dumps())
