"""IEEE 1752.1 export: every data point validates against the schema files in
``interop/schemas`` (written from the standard's definitions), times keep each
sample's own offset, and a day not worn has no item at all."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import UTC, date, datetime

import pytest
from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource

from interop.ieee import DATA_POINT_SCHEMA, SCHEMA_DIR
from tests.interop_support import (
    DST,
    FIRST,
    LAST,
    LOW_WEAR,
    NOT_WORN,
    TOTAL_ONLY,
    ZONE,
    cli,
    device,
    enrol,
    minutes,
    store,
    two_weeks,
)

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


@pytest.fixture(scope="module")
def validator() -> Draft7Validator:
    registry = Registry()
    for path in SCHEMA_DIR.glob("*.json"):
        schema = json.loads(path.read_text())
        registry = registry.with_resource(schema["$id"], Resource.from_contents(schema))
    top = json.loads((SCHEMA_DIR / DATA_POINT_SCHEMA).read_text())
    return Draft7Validator(top, registry=registry, format_checker=FormatChecker())


def _export(db_url, monkeypatch, patient, first, last, *extra) -> dict:
    args = ["--patient", patient, "--from", str(first), "--to", str(last), *extra]
    result = cli(db_url, monkeypatch, "export", "steps", "--format", "ieee1752", *args, now=NOW)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _offset(text: str) -> str:
    return text[-6:]


def test_per_interval_points_validate_and_keep_sample_offsets(
    db_url, monkeypatch, factory, patient, validator
):
    rows = two_weeks(factory, patient)
    point = _export(db_url, monkeypatch, patient, FIRST, LAST)
    validator.validate(point)
    header = point["header"]
    assert uuid.UUID(header["uuid"])
    assert header["schema_id"] == {"namespace": "ieee", "name": "physical-activity",
                                   "version": "1.0"}  # fmt: skip
    assert header["modality"] == "sensed"
    (sheet,) = header["external_datasheets"]
    assert sheet == {"datasheet_type": "source_device",
                     "datasheet_reference": "urn:stridewise:source:garmin/fenix-7"}  # fmt: skip
    items = point["body"]["activity"]
    counted = [r for r in rows if r.local_date not in (LOW_WEAR, NOT_WORN)]
    assert len(items) == len(counted)
    for item, row in zip(items, sorted(counted, key=lambda r: r.start), strict=True):
        interval = item["effective_time_frame"]["time_interval"]
        start = datetime.fromisoformat(interval["start_date_time"])
        assert start == row.start
        assert start.utcoffset().total_seconds() == row.utc_offset_s
        assert item["base_movement_quantity"] == {"value": row.steps, "unit": "steps"}
    starts = [i["effective_time_frame"]["time_interval"]["start_date_time"] for i in items]
    dst = [t for t in starts if t.startswith("2026-03-08")]
    assert {_offset(t) for t in dst} == {"-05:00", "-04:00"}
    assert all(i["base_movement_quantity"]["value"] > 0 for i in items)


def test_per_day_points_run_midnight_to_midnight_on_the_wearers_clock(
    db_url, monkeypatch, factory, patient, validator
):
    rows = two_weeks(factory, patient)
    point = _export(db_url, monkeypatch, patient, FIRST, LAST, "--per-day")
    validator.validate(point)
    by_day = {
        i["effective_time_frame"]["time_interval"]["start_date_time"][:10]: i
        for i in point["body"]["activity"]
    }
    assert NOT_WORN.isoformat() not in by_day and LOW_WEAR.isoformat() not in by_day
    dst = by_day[DST.isoformat()]["effective_time_frame"]["time_interval"]
    assert dst == {"start_date_time": "2026-03-08T00:00:00-05:00",
                   "end_date_time": "2026-03-09T00:00:00-04:00"}  # fmt: skip
    assert by_day[TOTAL_ONLY.isoformat()]["base_movement_quantity"]["value"] == 6000
    steps = sum(r.steps for r in rows if r.local_date == date(2026, 3, 3))
    assert by_day["2026-03-03"]["base_movement_quantity"]["value"] == steps


def test_travel_day_ends_on_the_clock_travelled_to(
    db_url, monkeypatch, factory, patient, validator
):
    day = date(2026, 3, 12)
    home = minutes(patient, day, ZONE, hours=(5, 11), walk=(6, 30))
    away = minutes(patient, day, "Europe/London", hours=(16, 23), walk=(18, 30))
    store(factory, home + away, devices=[device(patient)])
    enrol(factory, patient, day)
    point = _export(db_url, monkeypatch, patient, day, day, "--per-day")
    validator.validate(point)
    (item,) = point["body"]["activity"]
    assert item["effective_time_frame"]["time_interval"] == {
        "start_date_time": "2026-03-12T00:00:00-04:00",
        "end_date_time": "2026-03-13T00:00:00+00:00",  # a 20-hour day, flying east
    }
    per_interval = _export(db_url, monkeypatch, patient, day, day)
    offsets = [_offset(i["effective_time_frame"]["time_interval"]["end_date_time"])
               for i in per_interval["body"]["activity"]]  # fmt: skip
    assert offsets[0] == "-04:00" and offsets[-1] == "+00:00"


@pytest.mark.parametrize(
    "break_it",
    [
        lambda p: p["header"].pop("uuid"),
        lambda p: p["header"].update(modality="guessed"),
        lambda p: p["header"]["schema_id"].update(name="step-count"),
        lambda p: p["body"]["activity"][0].pop("activity_name"),
        lambda p: p["body"]["activity"][0]["base_movement_quantity"].update(unit="kg"),
        lambda p: p["body"]["activity"][0].update(
            effective_time_frame={"date_time": "2026-03-03T09:00:00-05:00"}
        ),
        lambda p: p["body"]["activity"][0]["effective_time_frame"]["time_interval"].update(
            start_date_time="2026-03-03 09:00"
        ),
        lambda p: p["body"]["activity"][0]["effective_time_frame"]["time_interval"].pop(
            "end_date_time"
        ),
    ],
)
def test_the_schema_files_refuse_what_the_standard_refuses(validator, break_it):
    good = {
        "header": {
            "uuid": str(uuid.uuid4()),
            "schema_id": {"namespace": "ieee", "name": "physical-activity", "version": "1.0"},
            "source_creation_date_time": "2026-03-20T12:00:00+00:00",
            "modality": "sensed",
        },
        "body": {
            "activity": [
                {
                    "activity_name": "walking",
                    "base_movement_quantity": {"value": 112, "unit": "steps"},
                    "effective_time_frame": {
                        "time_interval": {
                            "start_date_time": "2026-03-03T09:00:00-05:00",
                            "end_date_time": "2026-03-03T09:01:00-05:00",
                        }
                    },
                }
            ]
        },
    }
    validator.validate(good)
    bad = copy.deepcopy(good)
    break_it(bad)
    assert not validator.is_valid(bad)
