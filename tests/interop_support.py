"""Scenario building for the interop tests: minute data written through the real
write path, the CLI run in-process, and the IG's rules for each Observation."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from typer.testing import CliRunner

from core.schema import DailyTotal, DeviceInfo, StepBatch, StepInterval
from ingest.db import transaction
from ingest.store import write_batch
from interop.fhir import DAILY_STEPS, LOINC, OBS_CATEGORY, PA_CODES, UCUM, WEEKLY_MINUTES
from rules.enrolment import start_programme
from stridewise.cli.main import app

DATE_ONLY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
runner = CliRunner()  # Click 8.2+: result.stdout and result.stderr apart


def minutes(
    patient: str,
    day: date,
    zone: str,
    provider: str = "garmin",
    device: str = "fenix-7",
    hours: tuple[int, int] = (7, 21),
    walk: tuple[int, int] = (9, 35),
    potter: int = 12,
    cadence: int = 112,
) -> list[StepInterval]:
    """A worn day of minute intervals: pottering each third minute, one brisk walk
    (local hour, minutes). Offsets come from the zone at each minute."""
    tz = ZoneInfo(zone)
    on = datetime.combine(day, time(hours[0]), tz)
    off = datetime.combine(day, time(hours[1]), tz)
    walk_start = datetime.combine(day, time(walk[0]), tz)
    walk_end = walk_start + timedelta(minutes=walk[1])
    rows, t = [], on.astimezone(UTC)
    while t < off.astimezone(UTC):
        steps = cadence if walk_start <= t < walk_end else potter if t.minute % 3 == 0 else 0
        if steps:
            rows.append(
                StepInterval(patient, provider, device, t, t + timedelta(minutes=1),
                             int(t.astimezone(tz).utcoffset().total_seconds()), steps)
            )  # fmt: skip
        t += timedelta(minutes=1)
    return rows


def store(factory, intervals=(), totals=(), devices=()) -> None:
    with transaction(factory) as session:
        report = write_batch(session, StepBatch(list(intervals), list(totals), list(devices)))
    assert not report.rejected, report.rejected


def enrol(factory, patient: str, day: date) -> None:
    """Start the patient's programme on ``day`` (the therapist's explicit enrolment)."""
    with transaction(factory) as session:
        start_programme(session, patient, day)


def device(patient: str, provider: str = "garmin", name: str = "fenix-7", maker="Garmin"):
    return DeviceInfo(patient, provider, name, "garmin-connect", "watch", maker)


def total(patient, day, steps, provider="garmin", provisional=False) -> DailyTotal:
    return DailyTotal(patient, provider, day, steps, provisional,
                      datetime.combine(day, time(23), UTC))  # fmt: skip


def cli(db_url: str, monkeypatch, *args: str, now: datetime | None = None):
    """Run ``stridewise ARGS`` in-process against ``db_url`` (clock pinned to ``now``)."""
    monkeypatch.setenv("STRIDEWISE_DATABASE_URL", db_url)
    if now is not None:
        monkeypatch.setattr("stridewise.cli.interop_cmd.utcnow", lambda: now)
    return runner.invoke(app, list(args), catch_exceptions=False)


def export_bundle(db_url, monkeypatch, patient, first, last, now) -> dict:
    result = cli(db_url, monkeypatch, "export", "steps", "--patient", patient, "--from",
                 str(first), "--to", str(last), "--format", "fhir", now=now)  # fmt: skip
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def resources(bundle: dict, kind: str | None = None) -> list[dict]:
    found = [e["resource"] for e in bundle["entry"]]
    return [r for r in found if kind is None or r["resourceType"] == kind]


def observations(bundle: dict, code: str) -> dict[str, dict]:
    """Observations of ``code`` by effective date (or period start)."""
    out = {}
    for obs in resources(bundle, "Observation"):
        if obs["code"]["coding"][0]["code"] == code:
            when = obs.get("effectiveDateTime") or obs["effectivePeriod"]["start"]
            out[when] = obs
    return out


def check_ig_rules(obs: dict, full_urls: set[str]) -> None:
    """The Physical Activity IG's rules for our two Observation kinds."""
    categories = {(c["coding"][0]["system"], c["coding"][0]["code"]) for c in obs["category"]}
    assert categories == {(OBS_CATEGORY, "activity"), (PA_CODES, "PhysicalActivity")}
    (coding,) = obs["code"]["coding"]
    assert coding["system"] == LOINC
    assert obs["status"] in ("final", "preliminary")
    assert obs["subject"] == obs["performer"][0]
    assert obs["subject"]["reference"] in full_urls
    if "device" in obs:
        assert obs["device"]["reference"] in full_urls
    if coding["code"] == DAILY_STEPS:
        assert DATE_ONLY.match(obs["effectiveDateTime"])
        assert "effectivePeriod" not in obs
        if "valueQuantity" in obs:
            q = obs["valueQuantity"]
            assert (q["system"], q["code"]) == (UCUM, "/d")
            assert isinstance(q["value"], int) and q["value"] > 0
            assert "dataAbsentReason" not in obs
        else:
            assert obs["dataAbsentReason"]["coding"][0]["code"]
            assert obs["status"] == "final"
    else:
        assert coding["code"] == WEEKLY_MINUTES
        period = obs["effectivePeriod"]
        assert DATE_ONLY.match(period["start"]) and DATE_ONLY.match(period["end"])
        span = date.fromisoformat(period["end"]) - date.fromisoformat(period["start"])
        assert span == timedelta(days=6)
        q = obs["valueQuantity"]
        assert (q["system"], q["code"]) == (UCUM, "min/wk")
        assert isinstance(q["value"], int) and q["value"] >= 0


ZONE = "America/New_York"
FIRST, LAST = date(2026, 3, 2), date(2026, 3, 15)
NOT_WORN, LOW_WEAR, TOTAL_ONLY = date(2026, 3, 9), date(2026, 3, 10), date(2026, 3, 11)
DST = date(2026, 3, 8)  # New York springs forward at 02:00


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def two_weeks(factory, patient: str) -> list[StepInterval]:
    """Two weeks for a New York patient: worn days (DST on 8 March, worn from 01:00),
    a day not worn, a low-wear day, a day with only Garmin's daily total; enrolled
    after a week of baseline. Returns the intervals written."""
    rows = []
    for day in days_between(FIRST, LAST):
        if day in (NOT_WORN, TOTAL_ONLY):
            continue
        hours = (9, 11) if day == LOW_WEAR else (1, 21) if day == DST else (7, 21)
        rows += minutes(patient, day, ZONE, hours=hours, walk=(9, 35))
    store(factory, rows, [total(patient, TOTAL_ONLY, 6000)], [device(patient)])
    enrol(factory, patient, date(2026, 3, 9))
    return rows
