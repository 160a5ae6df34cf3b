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
from typing import Any

from garminconnect import Garmin
from garminconnect.client import DI_TOKEN_URL, Client

from adapters.garmin.config import GarminConfig

# The library logs a full traceback at ERROR for every failed call, including the
# expected 429s; errors are translated and logged by us instead (never tokens).
logging.getLogger("garminconnect").setLevel(logging.CRITICAL)

TOKEN_KEYS = ("di_token", "di_refresh_token", "di_client_id")


class _ConfiguredClient(Client):
    """The library's client with the DI token endpoint taken from the configuration."""

    def __init__(self, config: GarminConfig) -> None:
        super().__init__()
        self._connectapi = config.api_url.rstrip("/")
        self._sso = config.sso_url.rstrip("/")
        self._token_url = config.token_url
        self._timeout = config.timeout_s

    def _http_post(self, url: str, **kwargs: Any) -> Any:
        return super()._http_post(self._token_url if url == DI_TOKEN_URL else url, **kwargs)

    def _run_request(self, method: str, path: str, **kwargs: Any) -> Any:
        """Every data call; the library's fixed 15 s becomes the configured timeout."""
        kwargs.setdefault("timeout", self._timeout)
        return super()._run_request(method, path, **kwargs)


def new_client(config: GarminConfig) -> Garmin:
    """A client pointed at the configured hosts, holding no credentials yet."""
    garmin = Garmin()
    garmin.client = _ConfiguredClient(config)
    return garmin


def client_with_tokens(config: GarminConfig, tokens: dict) -> Garmin:
    """A client that uses stored tokens (loading them is not a login: no password)."""
    garmin = new_client(config)
    garmin.client.loads(json.dumps({key: tokens.get(key) for key in TOKEN_KEYS}))
    return garmin


def current_tokens(garmin: Garmin) -> dict:
    return json.loads(garmin.client.dumps())
