"""Logging in to Garmin: one password login (plus the MFA code Garmin emails),
kept only as tokens. Used when linking; never on a schedule (Garmin rate-limits
logins per IP and punishes retries)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from garminconnect import GarminConnectAuthenticationError, GarminConnectTooManyRequestsError

from adapters.garmin.adapter import SOCIAL_PROFILE
from adapters.garmin.client import current_tokens, new_client
from adapters.garmin.config import GarminConfig
from adapters.garmin.errors import LIBRARY_ERRORS, causes, status_of
from adapters.garmin.tokens import valid_tokens
from core.errors import StridewiseError


@dataclass(frozen=True)
class GarminLink:
    tokens: dict  # the token store: di_token, di_refresh_token, di_client_id
    display_name: str  # Garmin's id for the user in data URLs (often a UUID)


def _reason(err: Exception) -> str:
    """One line a person can act on; never echoes the password or tokens."""
    rate_limited = any(isinstance(e, GarminConnectTooManyRequestsError) for e in causes(err))
    if rate_limited or status_of(err) == 429:
        return "Garmin is rate-limiting logins from this address: try again later (in an hour)"
    if isinstance(err, GarminConnectAuthenticationError):
        if "MFA" in str(err):
            return "Garmin did not accept the MFA code: run the command again for a new code"
        return "Garmin refused the email or password"
    return "Garmin Connect could not be reached or answered oddly: try again later"


def log_in(
    config: GarminConfig, email: str, password: str, mfa_code: Callable[[], str]
) -> GarminLink:
    """Log in once; ``mfa_code`` is asked only when Garmin wants a code.

    Uses the library's client login directly: ``Garmin.login()`` would first load
    any token store named by ``$GARMINTOKENS`` and skip the password, linking
    whatever account that is. Raises :class:`StridewiseError` with one line
    saying why a login failed.
    """
    garmin = new_client(config)
    try:
        status, _ = garmin.client.login(email, password, return_on_mfa=True)
        if status == "needs_mfa":
            code = mfa_code().strip()
            if not code:
                raise StridewiseError("Garmin needs the MFA code it emailed you; none was given")
            garmin.client.resume_login(None, code)
        profile = garmin.connectapi(SOCIAL_PROFILE)
    except LIBRARY_ERRORS as err:
        raise StridewiseError(f"Garmin login failed: {_reason(err)}") from err
    name = profile.get("displayName") if isinstance(profile, dict) else None
    if not isinstance(name, str) or not name:
        raise StridewiseError("Garmin login failed: the account has no display name yet")
    return GarminLink(valid_tokens(current_tokens(garmin)), name)
