"""Scenario building for the rules tests: a patient's days described in a few words,
turned into the day view's frames and run through the pure rules pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd

from ingest.dayview import INTERVAL_COLUMNS, combine_days, merge_sources
from ingest.programme_models import Alert
from rules.evaluate import SYNC_COLUMNS, Assessment, run_rules
from rules.messages import render
from rules.metrics import calendar_frame
from rules.programme_config import load_programme, params_frame

MONDAY = date(2026, 3, 2)
PRIORITY = ["garmin/*", "google-health/*", "csv/*"]


@dataclass(frozen=True)
class Day:
    """One local day: walks as (local hour, minutes), pottering each third minute while worn."""

    walks: tuple[tuple[int, int], ...] = ()
    worn: bool = True
    hours: tuple[int, int] = (7, 22)
    potter: int = 10
    cadence: int = 110


def minute_rows(
    patient: str,
    day: date,
    zone: str,
    spec: Day,
    provider: str = "csv",
    device: str = "watch",
) -> list[tuple]:
    """Minute intervals (zero minutes left out) in the frame layout of the day view."""
    if not spec.worn:
        return []
    tz = ZoneInfo(zone)
    steps: dict[datetime, int] = {}
    on = datetime.combine(day, time(spec.hours[0]), tz).astimezone(UTC)
    off = datetime.combine(day, time(spec.hours[1]), tz).astimezone(UTC)
    t, i = on, 0
    while t < off:
        if i % 3 == 0 and spec.potter:
            steps[t] = spec.potter
        t, i = t + timedelta(minutes=1), i + 1
    for hour, length in spec.walks:
        start = datetime.combine(day, time(hour), tz).astimezone(UTC)
        for m in range(length):
            steps[start + timedelta(minutes=m)] = spec.cadence
    return [row(patient, provider, device, t, 60, s, tz) for t, s in sorted(steps.items())]


def row(patient, provider, device, start: datetime, seconds: int, steps: int, tz) -> tuple:
    offset = int(start.astimezone(tz).utcoffset().total_seconds())
    local = (start + timedelta(seconds=offset)).date()
    return (
        patient,
        provider,
        device,
        start,
        start + timedelta(seconds=seconds),
        offset,
        local,
        steps,
        seconds,
        None,
    )


def interval_frame(rows: list[tuple]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=INTERVAL_COLUMNS)
    for column in ("start_utc", "end_utc"):
        frame[column] = pd.to_datetime(frame[column], utc=True).astype("datetime64[ns, UTC]")
    frame["local_date"] = pd.to_datetime(frame["local_date"]).astype("datetime64[ns]")
    for column in ("utc_offset_s", "steps", "resolution_s"):
        frame[column] = frame[column].astype("int64")
    return frame


def totals_frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (patient, provider, local_date, steps, provisional)."""
    frame = pd.DataFrame(
        rows, columns=["patient_id", "provider", "local_date", "steps", "provisional"]
    )
    frame["local_date"] = pd.to_datetime(frame["local_date"]).astype("datetime64[ns]")
    frame["steps"] = frame["steps"].astype("int64")
    frame["provisional"] = frame["provisional"].astype(bool)
    frame["fetched_at"] = pd.Timestamp("2026-01-01", tz="UTC")
    return frame


@dataclass
class Scenario:
    """One patient from ``first``; days not described are pottering-only valid days
    unless ``default`` says otherwise."""

    patient: str = "p1"
    zone: str = "Europe/London"
    first: date = MONDAY
    default: Day = field(default_factory=Day)
    days: dict[date, Day] = field(default_factory=dict)
    extra_rows: list[tuple] = field(default_factory=list)
    totals: list[tuple] = field(default_factory=list)
    pain: list[tuple[datetime, int]] = field(default_factory=list)  # local time, score
    exempt: list[date] = field(default_factory=list)
    overrides: list[tuple[date, int]] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    sync: tuple | None = None  # (now, active_link, last_data_at, revoked, revoked_date)

    def week(self, k: int, walks: dict[int, tuple[tuple[int, int], ...]]) -> None:
        """Programme week k (0 = after the baseline): walks by day index 0-6."""
        start = self.first + timedelta(days=7 + 7 * k)
        for index, day_walks in walks.items():
            self.days[start + timedelta(days=index)] = Day(walks=day_walks)

    def run(
        self, today: date, synced: date | None = None, skip: set[date] = frozenset()
    ) -> Assessment:
        rows = list(self.extra_rows)
        day = self.first
        while day <= today:
            if day not in skip:
                rows += minute_rows(self.patient, day, self.zone, self.days.get(day, self.default))
            day += timedelta(days=1)
        merged = merge_sources(interval_frame(rows), {}, PRIORITY)
        day_table = combine_days(merged, totals_frame(self.totals), {}, PRIORITY)
        params = params_frame(
            {self.patient: load_programme().with_overrides(self.settings)},
            {self.patient: "cadence_threshold" in self.settings},
        )
        calendar = calendar_frame([self.patient], [self.first], [today], [synced or today])
        pain = pd.DataFrame(
            [(self.patient, at, score) for at, score in self.pain],
            columns=["patient_id", "local_time", "score"],
        )
        pain["local_time"] = pd.to_datetime(pain["local_time"])
        exempt = pd.DataFrame(
            [(self.patient, d) for d in self.exempt], columns=["patient_id", "local_date"]
        )
        overrides = pd.DataFrame(
            [(self.patient, d, level) for d, level in self.overrides],
            columns=["patient_id", "week_start", "level"],
        )
        sync = pd.DataFrame(
            [] if self.sync is None else [(self.patient, *self.sync)], columns=SYNC_COLUMNS
        )
        return run_rules(merged, day_table, params, calendar, pain, exempt, overrides, sync)


def rules_found(result: Assessment, rule: str | None = None) -> set[tuple[str, str, str]]:
    """(rule, period, audience) of every finding, optionally of one rule."""
    f = result.findings
    if rule is not None:
        f = f[f["rule"] == rule]
    return set(zip(f["rule"], f["period"], f["audience"], strict=True))


def message(result: Assessment, rule: str, audience: str = "patient", as_of=None) -> str:
    """The rendered text of the one finding of ``rule`` for ``audience``, as of ``as_of``
    (default: the evaluation's today)."""
    f = result.findings.query("rule == @rule and audience == @audience")
    (row,) = f.to_dict("records")
    alert = Alert(rule=rule, audience=audience, status="open", facts=row["facts"])
    return render(alert, as_of or result.today[row["patient_id"]]).text


def day_row(result: Assessment, day: date) -> pd.Series:
    days = result.days
    return days[days["local_date"] == pd.Timestamp(day)].iloc[0]
