"""Where Garmin Connect lives and how far each sync reaches; built by the
application from settings (the sandbox differs only in these values)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class GarminConfig:
    api_url: str = "https://connectapi.garmin.com"
    token_url: str = "https://diauth.garmin.com/di-oauth2-service/oauth/token"
    sso_url: str = "https://sso.garmin.com"
    # Recent days fetched as 15-minute buckets, and days re-read on every sync.
    intraday_days: int = 7
    lookback_days: int = 3
    # Seconds one HTTP call may take before it is Transient (the library's own is 15).
    timeout_s: float = 15.0
