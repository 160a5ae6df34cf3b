"""Garmin Connect steps for one linked account and a window of local dates.

Per fetch: the device list (provenance), daily totals in chunks of at most 28
days, and for the recent days (``garmin_intraday_days``) each day's summary (its
UTC offset) and 15-minute buckets. Days after today are not asked for. Tokens the
library refreshed on the way are stored again, even when the fetch then fails.

Late uploads: watches sync when they can, so the sync engine should start every
window ``lookback_days`` (``garmin_lookback_days``, default 3) before its cursor;
the adapter itself fetches exactly the window it is given.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import structlog
from garminconnect import Garmin

from adapters.garmin.client import TOKEN_KEYS, api_session, client_with_tokens, current_tokens
from adapters.garmin.config import GarminConfig
from adapters.garmin.errors import translated
from adapters.garmin.parse import PROVIDER, daily_totals, day_frame, intervals, primary_device
from adapters.windows import spans
from core.clock import local_today, utcnow
from core.errors import BadData
from core.source import AccountRef, CredentialVault, DateWindow, FetchResult, StoredCredentials

log = structlog.get_logger(__name__)

MAX_DAYS_PER_CALL = 28  # stats/steps/daily answers 400 beyond this
SOCIAL_PROFILE = "/userprofile-service/socialProfile"
UNKNOWN_DEVICE = "Garmin device"


class _Calls:
    """Every API call goes through here: counted, and translated into the shared kinds."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.count += 1
        with translated():
            return method(*args, **kwargs)


class GarminAdapter:
    provider = PROVIDER

    def __init__(
        self,
        config: GarminConfig,
        credentials: CredentialVault,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._clock = clock
        self.lookback_days = config.lookback_days
        self._api = api_session()  # one pool for every account's data calls

    def fetch(self, account: AccountRef, window: DateWindow) -> FetchResult:
        stored = self._credentials.load(account.account_id)
        with translated():
            garmin = client_with_tokens(self._config, stored.data, self._api)
        try:
            return self._fetch(garmin, account, window)
        finally:
            self._keep_refreshed_tokens(garmin, account, stored)

    def _fetch(self, garmin: Garmin, account: AccountRef, window: DateWindow) -> FetchResult:
        now = self._clock()
        zone = ZoneInfo(account.timezone) if account.timezone else None  # exact DST, if known
        today = local_today(now, account.timezone)
        last = min(window.last, today)
        result = FetchResult()
        if last < window.first:
            return result
        calls = _Calls()
        garmin.display_name = account.external_user_id or self._display_name(garmin, calls)
        device = primary_device(calls(garmin.get_devices), account.patient_id)
        if device is not None:
            result.batch.devices.append(device)
        device_name = device.device if device else UNKNOWN_DEVICE

        for span in spans(DateWindow(window.first, last), MAX_DAYS_PER_CALL):
            rows = calls(garmin.get_daily_steps, span.first.isoformat(), span.last.isoformat())
            totals, skipped = daily_totals(
                rows, account.patient_id, span.first, span.last, today, now
            )
            result.batch.daily_totals.extend(totals)
            result.skipped.extend(skipped)

        recent = today - timedelta(days=self._config.intraday_days - 1)
        day = max(window.first, recent)
        while day <= last:
            self._fetch_day(garmin, calls, account, day, zone, device_name, result)
            day += timedelta(days=1)
        result.api_calls = calls.count
        return result

    def _fetch_day(
        self,
        garmin: Garmin,
        calls: _Calls,
        account: AccountRef,
        day: date,
        zone: ZoneInfo | None,
        device_name: str,
        result: FetchResult,
    ) -> None:
        """One day's buckets; a day Garmin answers with garbage is skipped, not fatal."""
        try:
            summary = calls(
                garmin.connectapi,
                f"{garmin.garmin_connect_daily_summary_url}/{garmin.display_name}",
                params={"calendarDate": day.isoformat()},
            )
            frame = day_frame(summary, day)
            if frame is None:
                return
            buckets = calls(garmin.get_steps_data, day.isoformat())
            found, skipped = intervals(buckets, frame, zone, account.patient_id, device_name)
        except BadData as err:
            result.skipped.append(f"{day}: {err}")
            return
        result.batch.intervals.extend(found)
        result.skipped.extend(skipped)

    @staticmethod
    def _display_name(garmin: Garmin, calls: _Calls) -> str:
        """Accounts imported from a token file have no stored display name yet."""
        profile = calls(garmin.connectapi, SOCIAL_PROFILE)
        name = profile.get("displayName") if isinstance(profile, dict) else None
        if not isinstance(name, str) or not name:
            raise BadData("garmin: the social profile has no displayName")
        return name

    def _keep_refreshed_tokens(
        self, garmin: Garmin, account: AccountRef, stored: StoredCredentials
    ) -> None:
        tokens = current_tokens(garmin)
        if tokens == {key: stored.data.get(key) for key in TOKEN_KEYS}:
            return
        if self._credentials.save_if_unchanged(account.account_id, tokens, stored.version):
            log.info("garmin_tokens_refreshed", account_id=account.account_id)
        else:
            # Someone stored newer tokens meanwhile (a relink); theirs win.
            log.warning("garmin_tokens_changed_meanwhile", account_id=account.account_id)
