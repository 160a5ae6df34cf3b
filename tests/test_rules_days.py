"""`stridewise days`, `plan start/show --date` and the export's status column (issue 10:
'Days you can see'; 'no export shows a not-worn day as a plain 0')."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rules_support import Day, minute_rows
from typer.testing import CliRunner

from core.errors import StridewiseError
from core.schema import StepBatch, StepInterval
from ingest.db import transaction
from ingest.patients import add_patient, add_therapist
from ingest.store import write_batch
from stridewise.cli.main import app
from stridewise.settings import Settings
from stridewise.wiring import App

ZONE = "Europe/London"
FIRST = date(2026, 3, 2)
NOT_WORN = date(2026, 3, 5)  # the watch sat on the table: every minute synced, all 0
SHORT = date(2026, 3, 6)  # worn 08:00-12:00 only


@pytest.fixture
def clinic(factory, db_url):
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        session.flush()
        add_patient(session, "p1", "Sam", ZONE, "t1")
    batch = StepBatch()
    for n in range(14):
        day = FIRST + timedelta(days=n)
        if day == NOT_WORN:
            start = datetime.combine(day, time.min, ZoneInfo(ZONE)).astimezone(UTC)
            for m in range(1440):
                t = start + timedelta(minutes=m)
                batch.intervals.append(
                    StepInterval("p1", "csv", "watch", t, t + timedelta(minutes=1), 0, 0)
                )
            continue
        spec = Day(hours=(8, 12)) if day == SHORT else Day(walks=((9, 30),))
        for r in minute_rows("p1", day, ZONE, spec):
            batch.intervals.append(StepInterval("p1", r[1], r[2], r[3], r[4], r[5], r[7]))
    with transaction(factory) as session:
        assert not write_batch(session, batch).rejected
    runner = CliRunner()
    obj = App(Settings(database_url=db_url))
    return lambda *args: runner.invoke(app, list(args), obj=obj, catch_exceptions=False)


def test_days_shows_status_wear_and_walking_and_never_a_zero_for_not_worn(clinic):
    result = clinic("days", "--patient", "p1", "--from", "2026-03-02", "--to", "2026-03-15",
                    "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    days = {d["date"]: d for d in json.loads(result.output)["days"]}
    assert days[NOT_WORN.isoformat()]["status"] == "missing"
    assert days[NOT_WORN.isoformat()]["steps"] is None
    assert days[SHORT.isoformat()]["status"] == "low-wear"
    walked = days["2026-03-09"]
    assert walked["status"] == "valid" and walked["wear_hours"] == 15
    assert walked["walking_minutes"] == 30 and walked["bouts"] == 1
    assert walked["threshold_spm"] == 100 and walked["source"] == "csv/watch"
    assert days["2026-03-15"]["status"] == "provisional"  # today, as of the end of --to
    as_csv = clinic("days", "--patient", "p1", "--from", "2026-03-05", "--to", "2026-03-07",
                    "--format", "csv")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(as_csv.output)))[:2]
    assert [(r["date"], r["status"], r["steps"]) for r in rows] == [
        ("2026-03-05", "missing", ""),
        ("2026-03-06", "low-wear", rows[1]["steps"]),
    ]
    assert int(rows[1]["steps"]) > 0


def test_export_steps_has_the_status_column(clinic):
    result = clinic("export", "steps", "--patient", "p1", "--from", "2026-03-02",
                    "--to", "2026-03-10", "--format", "json")  # fmt: skip
    days = {d["date"]: d for d in json.loads(result.output)["days"]}
    assert (days["2026-03-05"]["status"], days["2026-03-05"]["steps"]) == ("missing", None)
    assert days["2026-03-06"]["status"] == "low-wear"
    assert days["2026-03-09"]["status"] == "valid" and days["2026-03-09"]["steps"] > 3000
    as_csv = clinic("export", "steps", "--patient", "p1", "--from", "2026-03-05",
                    "--to", "2026-03-05", "--format", "csv")  # fmt: skip
    (row,) = csv.DictReader(io.StringIO(as_csv.output))
    assert (row["status"], row["steps"]) == ("missing", "")


def test_plan_needs_a_start_and_shows_weeks_up_to_the_date(clinic):
    with pytest.raises(StridewiseError, match="not enrolled"):
        clinic("plan", "show", "--patient", "p1", "--date", "2026-03-15")
    assert clinic("plan", "start", "--patient", "p1", "--date", "2026-03-09").exit_code == 0
    shown = clinic("plan", "show", "--patient", "p1", "--date", "2026-03-15")
    assert shown.exit_code == 0, shown.output
    assert "programme start: 2026-03-09" in shown.output and "100 steps/min" in shown.output
    assert "2026-03-09" in shown.output and "2026-03-16" not in shown.output
    later = clinic("plan", "show", "--patient", "p1", "--date", "2026-03-16")
    assert "2026-03-16" in later.output
