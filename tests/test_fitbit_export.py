"""The Fitbit / Google Takeout export importer on generated exports (zip and folder)."""

from __future__ import annotations

import json
import zipfile
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from adapters.fitbit_export import PROVIDER, DayFile, open_export, parse_day
from core.errors import StridewiseError
from ingest.db import transaction
from ingest.models import Device, StepIntervalRow
from ingest.patients import add_patient, add_therapist
from sandbox.walker import DayShape, Walker
from stridewise.cli.main import app
from stridewise.imports.fitbit_export import import_export
from stridewise.logs import configure
from stridewise.settings import Settings
from stridewise.wiring import App

ZONE = "America/New_York"
FIRST = date(2026, 10, 30)  # four days across the 2026-11-01 fall-back


def export_days(first: date, count: int) -> dict[str, list[dict]]:
    """A generated export: the walker's minutes as Fitbit writes them (every minute of
    the local day, zeros for non-wear, local times without offset, values as text)."""
    walker, zone = Walker(5), ZoneInfo(ZONE)
    files = {}
    for n in range(count):
        day = first + timedelta(days=n)
        worn = {m.start_utc: m.steps for m in walker.day("ana", day, ZONE, DayShape())}
        start = datetime.combine(day, datetime.min.time(), zone).astimezone(UTC)
        end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
        entries, t = [], start
        while t < end:
            local = t.astimezone(zone)
            entries.append(
                {"dateTime": local.strftime("%m/%d/%y %H:%M:%S"), "value": str(worn.get(t, 0))}
            )
            t += timedelta(minutes=1)
        files[f"steps-{day.isoformat()}.json"] = entries
    return files


def walker_total(day: date) -> int:
    return sum(m.steps for m in Walker(5).day("ana", day, ZONE, DayShape()))


@pytest.fixture
def patient(factory):
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        add_patient(session, "p1", "Sam", ZONE, "t1")
    return factory


def write_zip(tmp_path, files: dict) -> object:
    path = tmp_path / "takeout.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("Takeout/Fitbit/Global Export Data/readme.txt", "not steps")
        for name, entries in files.items():
            archive.writestr(f"Takeout/Fitbit/Global Export Data/{name}", json.dumps(entries))
    return path


def test_a_zip_export_lands_each_minute_on_its_local_day(patient, tmp_path):
    files = export_days(FIRST, 4)
    with open_export(write_zip(tmp_path, files)) as day_files:
        assert [f.day for f in day_files] == [FIRST + timedelta(days=n) for n in range(4)]
        report = import_export(patient, "p1", day_files, ZoneInfo(ZONE))
    assert report.files == 4 and report.rejected == []
    assert report.minutes == sum(len(e) for e in files.values()) == 4 * 1440 + 60
    with patient() as session:
        per_day = dict(
            session.execute(
                select(StepIntervalRow.local_date, func.sum(StepIntervalRow.steps))
                .where(StepIntervalRow.provider == PROVIDER)
                .group_by(StepIntervalRow.local_date)
            ).all()
        )
        stored = session.scalar(select(func.count()).select_from(StepIntervalRow))
        devices = session.scalars(select(Device.device)).all()
    assert per_day == {
        FIRST + timedelta(days=n): walker_total(FIRST + timedelta(days=n)) for n in range(4)
    }
    assert (
        stored == report.accepted == sum(1 for e in files.values() for x in e if x["value"] != "0")
    )
    assert devices == ["Fitbit"]
    # importing again changes nothing
    with open_export(write_zip(tmp_path, files)) as day_files:
        again = import_export(patient, "p1", day_files, ZoneInfo(ZONE))
    assert again.changed == 0 and again.accepted == report.accepted


def test_the_repeated_hour_keeps_both_occurrences(factory):
    fall = date(2026, 11, 1)
    entries = [
        {"dateTime": "11/01/26 01:30:00", "value": "40"},
        {"dateTime": "11/01/26 01:30:00", "value": "50"},
        {"dateTime": "11/01/26 02:30:00", "value": "60"},
    ]
    file = DayFile("steps-2026-11-01.json", fall, lambda: json.dumps(entries).encode())
    intervals, rejected, count = parse_day(file, "p1", ZoneInfo(ZONE))
    assert rejected == [] and count == 3
    assert [(i.utc_offset_s, i.steps) for i in intervals] == [
        (-14400, 40),
        (-18000, 50),
        (-18000, 60),
    ]
    assert intervals[1].start - intervals[0].start == timedelta(hours=1)
    assert {i.local_date for i in intervals} == {fall}


def test_bad_entries_are_listed_and_good_ones_kept(patient, tmp_path):
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "steps-2026-03-08.json").write_text(
        json.dumps(
            [
                {"dateTime": "03/08/26 01:59:00", "value": "12"},
                {"dateTime": "03/08/26 02:30:00", "value": "5"},  # never happened in New York
                {"dateTime": "yesterday", "value": "5"},
                {"dateTime": "03/08/26 03:00:00", "value": "-3"},
                {"dateTime": "03/08/26 03:01:00", "value": "lots"},
                {"dateTime": "03/08/26 03:02:00", "value": "7"},
            ]
        )
    )
    (folder / "steps-2026-03-09.json").write_text("{not json")
    with open_export(folder) as day_files:
        report = import_export(patient, "p1", day_files, ZoneInfo(ZONE))
    reasons = [reason for _, reason in report.rejected]
    assert len(reasons) == 5
    assert "does not exist" in reasons[0] and "dateTime" in reasons[1]
    assert "outside" in reasons[2] and "lots" in reasons[3] and reasons[4] == "not valid JSON"
    with patient() as session:
        kept = session.execute(select(StepIntervalRow.utc_offset_s, StepIntervalRow.steps)).all()
    assert sorted(kept) == [(-18000, 12), (-14400, 7)]


def test_a_path_that_is_no_export_is_refused(tmp_path):
    stray = tmp_path / "notes.txt"
    stray.write_text("hello")
    with pytest.raises(StridewiseError, match="neither a folder nor a zip"), open_export(stray):
        pass
    with pytest.raises(StridewiseError, match="does not exist"), open_export(tmp_path / "gone"):
        pass


def test_the_cli_imports_an_export_with_the_patients_zone(patient, db_url, tmp_path):
    path = write_zip(tmp_path, export_days(FIRST, 2))
    try:
        result = CliRunner().invoke(
            app,
            ["import", "fitbit-export", "--patient", "p1", str(path)],
            obj=App(Settings(database_url=db_url)),
        )
    finally:
        configure()
    assert result.exit_code == 0, result.output
    assert "2 day files, 2,880 minutes read" in result.output
    with patient() as session:
        total = session.scalar(select(func.sum(StepIntervalRow.steps)))
    assert total == walker_total(FIRST) + walker_total(FIRST + timedelta(days=1))
