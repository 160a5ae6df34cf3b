"""The one place garminconnect's exceptions become the shared error kinds.

garminconnect 0.3.2 raises ``GarminConnectConnectionError`` for every HTTP and
network failure of a data call, with the status only in the message
(``"... API Error 429 - ..."``); the typed errors come from login, a refresh
without a refresh token and ``privacyProtected`` days. So:

    GarminConnectAuthenticationError        -> AuthRevoked (also as a cause: unusable tokens)
    GarminConnectTooManyRequestsError       -> RateLimited (long back-off)
    GarminConnectConnectionError, status    401, 403 -> AuthRevoked (401 survived
                                            the library's refresh-and-retry)
                                            429 -> RateLimited
                                            5xx, 408 -> Transient
                                            other 4xx -> BadData
    ... without a status, body not JSON      -> BadData
    ... without a status, otherwise          -> Transient (network)
    GarminConnectInvalidFileFormatError      -> BadData
    requests' and curl_cffi's own exceptions -> Transient (BadData when a ValueError)

:data:`LIBRARY_ERRORS` is every exception the library and its two HTTP clients
raise on purpose; a test raises each of their classes through :func:`translated`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import requests
from curl_cffi import CurlError
from garminconnect import (
    GarminConnectAuthenticationError,
    GarminConnectConnectionError,
    GarminConnectInvalidFileFormatError,
    GarminConnectTooManyRequestsError,
)

from core.errors import AuthRevoked, BadData, ProviderError, RateLimited, Transient

# Garmin sends no Retry-After and punishes quick retries (longer IP blocks).
RATE_LIMIT_BACKOFF_S = 3600.0

_STATUS = re.compile(r"API Error (\d{3})")

LIBRARY_ERRORS = (
    GarminConnectAuthenticationError,
    GarminConnectConnectionError,
    GarminConnectInvalidFileFormatError,
    GarminConnectTooManyRequestsError,
    requests.RequestException,  # data calls (the library lets these through)
    CurlError,  # logins and token exchanges go through curl_cffi
)


def causes(err: BaseException) -> Iterator[BaseException]:
    """``err`` and every exception it was raised from or during."""
    visited: set[int] = set()
    link: BaseException | None = err
    while link is not None and id(link) not in visited:
        visited.add(id(link))
        yield link
        link = link.__cause__ or link.__context__


def status_of(err: BaseException) -> int | None:
    """The HTTP status the library wrote into the message of ``err`` or its causes."""
    for link in causes(err):
        match = _STATUS.search(str(link))
        if match:
            return int(match.group(1))
    return None


def translate(err: Exception) -> ProviderError:
    """The shared kind for one library exception (the caller raises it ``from err``)."""
    message = f"garmin: {str(err)[:200]}"
    if any(isinstance(link, GarminConnectAuthenticationError) for link in causes(err)):
        return AuthRevoked(message)
    if isinstance(err, GarminConnectInvalidFileFormatError):
        return BadData(message)
    if isinstance(err, GarminConnectTooManyRequestsError):
        return RateLimited(message, retry_after=RATE_LIMIT_BACKOFF_S)
    status = status_of(err)
    if status in (401, 403):
        return AuthRevoked(message)
    if status == 429:
        return RateLimited(message, retry_after=RATE_LIMIT_BACKOFF_S)
    if status is not None and (status >= 500 or status == 408):
        return Transient(message)
    if status is not None:
        return BadData(message)
    if any(isinstance(link, ValueError) for link in causes(err)):
        return BadData(message)
    return Transient(message)


@contextmanager
def translated() -> Iterator[None]:
    """Run library calls; only the shared kinds leave this block."""
    try:
        yield
    except LIBRARY_ERRORS as err:
        raise translate(err) from err
