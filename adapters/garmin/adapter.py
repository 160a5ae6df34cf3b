"""Garmin Connect steps for one linked account and a window of local dates.

Per fetch: the device list (provenance), daily totals in chunks of at most 28
days, and for the recent days (``garmin_intraday_days``) each day's summary (its
UTC offset) and 15-minute buckets. Days after today are not asked for. Tokens the
library refreshed on the way are stored again, even when the fetch then fails.

Late uploads: watches sync when they can, so the sync engine should start every
window ``lookback_days`` (``garmin_lookback_days``, default 3) before its cursor;
the adapter itself fetches exactly the window it is given.

Routine syncs (:class:`core.source.MinuteScope`): the buckets come a whole day per
call, so "minutes since an instant" cannot be asked for; "the days since" can, and
only when there is something new. Today's summary says when the watch last
uploaded (``lastSyncTimestampGMT``, kept as ``data_through``): if it uploaded since
the last read, the days from where that read stopped are fetched again (usually
today alone); if not, none are. The daily totals (one call for the window) are
running totals of the buckets, so an older day whose total moved is fetched
again too. A change that keeps every total and comes without an upload (a
re-attributed bucket), and a day whose buckets came back unreadable, wait for the
daily full read.
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
from adapters.garmin.parse import (
    PROVIDER,
    daily_totals,
    day_frame,
    intervals,
    parse_gmt,
    primary_device,
)
from adapters.windows import spans
from core.clock import local_today, utcnow
from core.errors import BadData
from core.source import (
    AccountRef,
    CredentialVault,
    DateWindow,
    FetchResult,
    MinuteScope,
    StoredCredentials,
)

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


def _uploaded(summary: object) -> datetime | None:
    """Today's ``lastSyncTimestampGMT``: when the watch last uploaded."""
    try:
        return parse_gmt(summary.get("lastSyncTimestampGMT"))  # type: ignore[union-attr]
    except (AttributeError, ValueError):
        return None


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

    def fetch(
        self, account: AccountRef, window: DateWindow, scope: MinuteScope | None = None
    ) -> FetchResult:
        stored = self._credentials.load(account.account_id)
        with translated():
            garmin = client_with_tokens(self._config, stored.data, self._api)
        try:
            return self._fetch(garmin, account, window, scope)
        finally:
            self._keep_refreshed_tokens(garmin, account, stored)

    def _fetch(
        self, garmin: Garmin, account: AccountRef, window: DateWindow, scope: MinuteScope | None
    ) -> FetchResult:
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

        recent = max(window.first, today - timedelta(days=self._config.intraday_days - 1))
        summaries: dict[date, object] = {}
        wanted = self._routine_days(garmin, calls, scope, result, recent, last, summaries)
        day = recent
        while day <= last:
            if wanted is None or day in wanted:
                self._fetch_day(garmin, calls, account, day, zone, device_name, result, summaries)
            day += timedelta(days=1)
        result.data_through = _uploaded(summaries.get(today)) or max(
            (i.end for i in result.batch.intervals), default=None
        )
        result.api_calls = calls.count
        return result

    def _routine_days(
        self,
        garmin: Garmin,
        calls: _Calls,
        scope: MinuteScope | None,
        result: FetchResult,
        first: date,
        today: date,
        summaries: dict[date, object],
    ) -> set[date] | None:
        """The days whose buckets a routine sync fetches (None: every day): those
        whose total moved, and, when the watch uploaded since the last read (today's
        ``lastSyncTimestampGMT``), every day from where that read stopped."""
        if scope is None:
            return None
        wanted = scope.moved({t.local_date: t.steps for t in result.batch.daily_totals})
        try:
            summary = self._summary(garmin, calls, today, summaries)
            day_frame(summary, today)  # a privacy-protected account stops here
            uploaded = _uploaded(summary)
        except BadData:  # fetching the day again says so
            uploaded = None
        if uploaded is None or scope.seen_through is None or uploaded > scope.seen_through:
            day = max(first, scope.tail_day)
            while day <= today:
                wanted.add(day)
                day += timedelta(days=1)
        return wanted

    @staticmethod
    def _summary(garmin: Garmin, calls: _Calls, day: date, summaries: dict[date, object]):
        """The day's summary, asked for once per fetch (a failure is not kept)."""
        if day not in summaries:
            summaries[day] = calls(
                garmin.connectapi,
                f"{garmin.garmin_connect_daily_summary_url}/{garmin.display_name}",
                params={"calendarDate": day.isoformat()},
            )
        return summaries[day]

    def _fetch_day(
        self,
        garmin: Garmin,
        calls: _Calls,
        account: AccountRef,
        day: date,
        zone: ZoneInfo | None,
        device_name: str,
        result: FetchResult,
        summaries: dict[date, object],
    ) -> None:
        """One day's buckets; a day Garmin answers with garbage is skipped, not fatal."""
        try:
            frame = day_frame(self._summary(garmin, calls, day, summaries), day)
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
