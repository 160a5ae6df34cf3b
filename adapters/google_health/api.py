"""The only code that talks to the Google Health API.

Every failure leaves as one of :mod:`core.errors`:

- 401: the token is refreshed once and the call repeated; a second 401 (a
  fresh token refused) is ``AuthRevoked``; 403 (missing scope, or a legacy
  Fitbit login consented instead of a Google account) and 410 (a legacy Fitbit
  endpoint, switched off 2026-11-02) are ``AuthRevoked`` too: only a relink helps;
- 429 is ``RateLimited`` with ``Retry-After`` when sent (the sync engine backs
  off exponentially with jitter otherwise; nothing sleeps here);
- 5xx, time-outs, broken connections and bodies that cannot be decoded
  (``httpx.RequestError`` and all its kinds) are ``Transient``;
- other 4xx and bodies that are not a JSON object are ``BadData``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, date, datetime
from email.utils import parsedate_to_datetime
from typing import Protocol

import httpx
import orjson

from core.clock import utcnow
from core.errors import AuthRevoked, BadData, RateLimited, Transient

STEPS = "v4/users/me/dataTypes/steps/dataPoints"
MAX_ROLLUP_DAYS = 90
ROLLUP_PAGE_SIZE = 90


class TokenSource(Protocol):
    def token(self) -> str: ...

    def rejected(self, token: str) -> None:
        """The API refused ``token`` (401): get a new one or raise ``AuthRevoked``."""


class HealthApi:
    """One account's view of the API; ``calls`` and ``http_seconds`` feed the figures."""

    def __init__(self, http: httpx.Client, base_url: str, tokens: TokenSource) -> None:
        self._http = http
        self._base = base_url.rstrip("/") + "/"
        self._tokens = tokens
        self.calls = 0
        self.http_seconds = 0.0

    def identity(self) -> dict:
        return self._request("GET", "v4/users/me/identity")

    def settings(self) -> dict:
        return self._request("GET", "v4/users/me/settings")

    def step_pages(self, first: date, end: date, page_size: int) -> Iterator[dict]:
        """Raw step points whose civil start lies in [first, end), page by page to the
        end (a page may be empty yet carry a token)."""
        yield from self._pages("civil_start_time", first.isoformat(), end.isoformat(), page_size)

    def step_pages_between(self, start: datetime, stop: datetime, page_size: int) -> Iterator[dict]:
        """Raw step points whose physical start lies in [start, stop), page by page."""
        yield from self._pages("start_time", _rfc3339(start), _rfc3339(stop), page_size)

    def _pages(self, field: str, low: str, high: str, page_size: int) -> Iterator[dict]:
        params = {
            "filter": f'steps.interval.{field} >= "{low}" AND steps.interval.{field} < "{high}"',
            "pageSize": str(page_size),
        }
        while True:
            page = self._request("GET", STEPS, params=params)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            params["pageToken"] = token

    def daily_rollup_pages(self, first: date, end: date) -> Iterator[dict]:
        """Daily totals for civil dates [first, end), at most 90 days (the API's limit)."""
        if not 0 < (end - first).days <= MAX_ROLLUP_DAYS:
            raise ValueError(f"a daily roll-up spans 1 to {MAX_ROLLUP_DAYS} days")
        body: dict = {
            "range": {"start": {"date": _civil(first)}, "end": {"date": _civil(end)}},
            "windowSizeDays": 1,
            "pageSize": ROLLUP_PAGE_SIZE,
        }
        while True:
            page = self._request("POST", STEPS + ":dailyRollUp", json=body)
            yield page
            token = page.get("nextPageToken")
            if not token:
                return
            body["pageToken"] = token

    def _request(self, method: str, path: str, **kwargs) -> dict:
        for attempt in (1, 2):
            token = self._tokens.token()
            started = time.perf_counter()
            try:
                response = self._http.request(
                    method,
                    self._base + path,
                    headers={"Authorization": f"Bearer {token}"},
                    **kwargs,
                )
            except httpx.TimeoutException as err:
                raise Transient(f"Google Health API timed out ({path})") from err
            except httpx.RequestError as err:  # the network, a garbled body, redirect loops
                raise Transient(f"Google Health API unreachable: {type(err).__name__}") from err
            finally:
                self.calls += 1
                self.http_seconds += time.perf_counter() - started
            if response.status_code == 401 and attempt == 1:
                self._tokens.rejected(token)
                continue
            return _decoded(response, path)
        raise AssertionError("unreachable")  # pragma: no cover


def _decoded(response: httpx.Response, path: str) -> dict:
    status = response.status_code
    if status == 200:
        try:  # orjson: about twice as fast as json on a page of points
            body = orjson.loads(response.content)
        except ValueError as err:  # orjson.JSONDecodeError is one
            raise BadData(f"{path}: the answer is not valid JSON") from err
        if not isinstance(body, dict):
            raise BadData(f"{path}: expected a JSON object, got {type(body).__name__}")
        return body
    message = f"{path}: HTTP {status} {_rpc_message(response)}"
    if status in (401, 403, 410):
        raise AuthRevoked(message)
    if status == 429:
        raise RateLimited(message, retry_after=_retry_after(response.headers.get("retry-after")))
    if status >= 500:
        raise Transient(message)
    raise BadData(message)


def _rpc_message(response: httpx.Response) -> str:
    """The ``google.rpc.Status`` status and message, if the body holds one."""
    try:
        error = response.json()["error"]
        return f"{error.get('status', '')}: {error.get('message', '')}".strip(": ")
    except (ValueError, KeyError, TypeError, AttributeError):
        return response.reason_phrase


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - utcnow()).total_seconds())


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _civil(day: date) -> dict:
    return {"year": day.year, "month": day.month, "day": day.day}
