"""Fetch one linked account's steps for a window of local dates.

Why ``dataPoints`` list and not ``:reconcile``: list returns one stream per
data source, each carrying its ``dataSource`` (platform, device name and form
factor, recording method), so provenance is kept and manual entries can be
kept but marked; within one device the minutes never overlap. Reconcile's
points carry no ``dataSource`` at all, and the ``google-wearables`` family
drops manual entries. Overlap between devices is resolved downstream ("never
add two sources up", :mod:`ingest.dayview`), and the day's total comes from
``:dailyRollUp``, which Google reconciles across devices and off-wrist time.

Calls per sync: one roll-up per 90 days, then one list page per 10000 minutes,
plus a token refresh about once an hour. The list filter takes physical
(``start_time``) or civil (``civil_start_time``) bounds, so a routine sync
(:class:`core.source.MinuteScope`) asks for exactly the minutes since an instant
(the newest minute seen last time, less an overlap: a watch uploads in order, so
however late its next upload comes, it starts there; one small page) plus, by
civil date, the older days whose roll-up total moved: a hand-logged walk or a
revision moves its day's total. On the instant's own day the stored minutes
before it plus those fetched must add up to the roll-up, else the rest of that
day is read too (a second device's late minutes). Google
reconciles overlapping devices in the roll-up, so for a patient with two
devices that sum rarely matches and that day is read whole on every sync
(correct, just more); and a change that moves no total (a second device's late
minutes hidden by the first's) is caught by a webhook naming the interval or by
the daily full read.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from itertools import groupby

import httpx

from adapters.google_health.api import MAX_ROLLUP_DAYS, HealthApi
from adapters.google_health.auth import AccountTokens, HttpxTransport
from adapters.google_health.config import GoogleHealthConfig
from adapters.google_health.parse import parse_points, parse_rollups
from adapters.windows import spans
from core.clock import local_today, patient_zone, utcnow
from core.schema import DeviceInfo, StepInterval
from core.source import AccountRef, CredentialVault, DateWindow, FetchResult, MinuteScope

_AHEAD = timedelta(days=1)  # the tail's open end: no point starts in the future


class GoogleHealthAdapter:
    provider = "google-health"

    def __init__(
        self,
        config: GoogleHealthConfig,
        credentials: CredentialVault,
        http: httpx.Client | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._config = config
        self._credentials = credentials
        self._http = http or httpx.Client(timeout=config.timeout_s)
        self._transport = HttpxTransport(self._http)
        self._clock = clock
        self._lock = threading.Lock()
        # Seconds spent in HTTP and in parsing, summed over fetches (benchmarks read it).
        self.timings: Counter[str] = Counter()

    def fetch(
        self, account: AccountRef, window: DateWindow, scope: MinuteScope | None = None
    ) -> FetchResult:
        tokens = AccountTokens(
            self._credentials, account.account_id, self._config, self._transport, self._clock
        )
        api = HealthApi(self._http, self._config.api_url, tokens)
        result = FetchResult()
        minutes = _Minutes(account.patient_id, result)
        size = self._config.page_size
        if scope is None:
            minutes.read(api.step_pages(window.first, window.last + timedelta(days=1), size))
            self._fetch_totals(api, account, window, minutes)
        else:  # the totals say which minutes to ask for
            self._fetch_totals(api, account, window, minutes)
            self._fetch_changed(api, account, window, scope, minutes)
        result.batch.devices.extend(minutes.devices.values())
        result.data_through = max((i.end for i in result.batch.intervals), default=None)
        result.api_calls = api.calls + tokens.refresh_calls
        with self._lock:
            self.timings["http"] += api.http_seconds
            self.timings["parse"] += minutes.parse_seconds
        return result

    def _fetch_totals(
        self, api: HealthApi, account: AccountRef, window: DateWindow, minutes: _Minutes
    ) -> None:
        now = self._clock()
        today = local_today(now, account.timezone)
        batch = minutes.result.batch
        for span in spans(window, MAX_ROLLUP_DAYS):
            stop = span.last + timedelta(days=1)
            for page in api.daily_rollup_pages(span.first, stop):
                started = time.perf_counter()
                totals, skipped = parse_rollups(
                    page.get("rollupDataPoints", []), account.patient_id, today, now
                )
                batch.daily_totals.extend(
                    t for t in totals if span.first <= t.local_date <= span.last
                )
                minutes.result.skipped.extend(skipped)
                minutes.parse_seconds += time.perf_counter() - started

    def _fetch_changed(
        self,
        api: HealthApi,
        account: AccountRef,
        window: DateWindow,
        scope: MinuteScope,
        minutes: _Minutes,
    ) -> None:
        """A routine sync: each run of older days whose total moved (by civil date),
        the minutes from ``scope.since`` (by instant), and the rest of ``since``'s
        day too when its stored and fetched minutes do not add up to its total."""
        size = self._config.page_size
        totals = {t.local_date: t.steps for t in minutes.result.batch.daily_totals}
        older = sorted(
            d for d in scope.moved(totals) if window.first <= d < min(scope.tail_day, window.last)
        )
        for run in _runs(older):
            minutes.read(api.step_pages(run.first, run.last + timedelta(days=1), size))
        tail = minutes.read(api.step_pages_between(scope.since, self._clock() + _AHEAD, size))
        fetched = sum(i.steps for i in tail if i.local_date == scope.tail_day)
        expected = totals.get(scope.tail_day, 0)
        if window.first <= scope.tail_day and scope.stored_before + fetched != expected:
            zone = patient_zone(account.timezone)
            day_start = datetime.combine(scope.tail_day, datetime.min.time(), zone)
            minutes.read(api.step_pages_between(day_start, scope.since, size))


class _Minutes:
    """Collects parsed list pages into one fetch's result."""

    def __init__(self, patient_id: str, result: FetchResult) -> None:
        self.patient_id, self.result = patient_id, result
        self.devices: dict[str, DeviceInfo] = {}
        self.parse_seconds = 0.0

    def read(self, pages: Iterator[dict]) -> list[StepInterval]:
        """Parse every page into the result; returns the intervals these pages held."""
        found: list[StepInterval] = []
        for page in pages:
            started = time.perf_counter()
            intervals, seen, skipped = parse_points(page.get("dataPoints", []), self.patient_id)
            found.extend(intervals)
            self.result.skipped.extend(skipped)
            for name, info in seen.items():
                self.devices.setdefault(name, info)
            self.parse_seconds += time.perf_counter() - started
        self.result.batch.intervals.extend(found)
        return found


def _runs(days: list[date]) -> Iterator[DateWindow]:
    """Sorted dates as runs of consecutive days."""
    for _, group in groupby(enumerate(days), lambda item: item[1] - timedelta(days=item[0])):
        run = [day for _, day in group]
        yield DateWindow(run[0], run[-1])
