"""Fetch one linked account's steps for a window of local dates.

Why ``dataPoints`` list and not ``:reconcile``: list returns one stream per
data source, each carrying its ``dataSource`` (platform, device name and form
factor, recording method), so provenance is kept and manual entries can be
kept but marked; within one device the minutes never overlap. Reconcile's
points carry no ``dataSource`` at all, and the ``google-wearables`` family
drops manual entries. Overlap between devices is resolved downstream ("never
add two sources up", :mod:`ingest.dayview`), and the day's total comes from
``:dailyRollUp``, which Google reconciles across devices and off-wrist time.

Calls per sync: one list page per 10000 minutes (a routine 4-day re-read is one
page) plus one roll-up per 90 days, plus a token refresh about once an hour.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta

import httpx

from adapters.google_health.api import MAX_ROLLUP_DAYS, HealthApi
from adapters.google_health.auth import AccountTokens, HttpxTransport
from adapters.google_health.config import GoogleHealthConfig
from adapters.google_health.parse import parse_points, parse_rollups
from adapters.windows import spans
from core.clock import local_today, utcnow
from core.schema import DeviceInfo
from core.source import AccountRef, CredentialVault, DateWindow, FetchResult


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

    def fetch(self, account: AccountRef, window: DateWindow) -> FetchResult:
        tokens = AccountTokens(
            self._credentials, account.account_id, self._config, self._transport, self._clock
        )
        api = HealthApi(self._http, self._config.api_url, tokens)
        result = FetchResult()
        end = window.last + timedelta(days=1)
        parse_seconds = 0.0
        devices: dict[str, DeviceInfo] = {}
        for page in api.step_pages(window.first, end, self._config.page_size):
            started = time.perf_counter()
            intervals, seen, skipped = parse_points(page.get("dataPoints", []), account.patient_id)
            result.batch.intervals.extend(intervals)
            result.skipped.extend(skipped)
            for name, info in seen.items():
                devices.setdefault(name, info)
            parse_seconds += time.perf_counter() - started
        result.batch.devices.extend(devices.values())

        now = self._clock()
        today = local_today(now, account.timezone)
        for span in spans(window, MAX_ROLLUP_DAYS):
            stop = span.last + timedelta(days=1)
            for page in api.daily_rollup_pages(span.first, stop):
                started = time.perf_counter()
                totals, skipped = parse_rollups(
                    page.get("rollupDataPoints", []), account.patient_id, today, now
                )
                result.batch.daily_totals.extend(
                    t for t in totals if span.first <= t.local_date <= span.last
                )
                result.skipped.extend(skipped)
                parse_seconds += time.perf_counter() - started
        result.api_calls = api.calls + tokens.refresh_calls
        with self._lock:
            self.timings["http"] += api.http_seconds
            self.timings["parse"] += parse_seconds
        return result
