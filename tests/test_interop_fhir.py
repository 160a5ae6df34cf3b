"""FHIR R4 export through the CLI, on both backends: every resource validates with
fhir.resources R4B, every Observation follows the Physical Activity IG, and the hard
days (DST, travel, provisional, not worn, two devices) come out right."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from core.errors import StridewiseError
from interop.fhir import DAILY_STEPS, PA_TIME_MEASURE, PATIENT_SYSTEM, WEEKLY_MINUTES
from tests.interop_support import (
    FIRST,
    LAST,
    LOW_WEAR,
    NOT_WORN,
    TOTAL_ONLY,
    ZONE,
    check_ig_rules,
    cli,
    days_between,
    device,
    enrol,
    export_bundle,
    minutes,
    observations,
    resources,
    store,
    total,
    two_weeks,
)

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


@pytest.fixture
def clinic(factory, patient):
    return two_weeks(factory, patient)


def _local_sums(rows) -> Counter:
    sums = Counter()
    for r in rows:
        sums[r.local_date] += r.steps
    return sums


def _no_zero_steps(node) -> bool:
    if isinstance(node, dict):
        if node.get("code") in ("/d", "steps") and node.get("value") == 0:
            return False
        return all(_no_zero_steps(v) for v in node.values())
    if isinstance(node, list):
        return all(_no_zero_steps(v) for v in node)
    return True


def test_bundle_validates_and_follows_the_ig(db_url, monkeypatch, clinic, patient):
    bundle = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)
    assert bundle["type"] == "collection"
    Bundle.model_validate(bundle)
    for resource in resources(bundle):
        get_fhir_model_class(resource["resourceType"]).model_validate(resource)
    full_urls = {e["fullUrl"] for e in bundle["entry"]}
    assert len(full_urls) == len(bundle["entry"])
    for obs in resources(bundle, "Observation"):
        check_ig_rules(obs, full_urls)

    (person,) = resources(bundle, "Patient")
    assert person["identifier"] == [{"system": PATIENT_SYSTEM, "value": patient}]
    (goal,) = resources(bundle, "Goal")
    assert {t["detailQuantity"]["code"]: t["detailQuantity"]["value"] for t in goal["target"]} == {
        "min/wk": 150,
        "d/wk": 5,
    }
    (plan,) = resources(bundle, "CarePlan")  # the week running on 20 March
    assert plan["period"]["start"] <= "2026-03-20" <= plan["period"]["end"]
    assert plan["goal"][0]["reference"] == f"urn:uuid:{goal['id']}"

    daily = observations(bundle, DAILY_STEPS)
    sums = _local_sums(clinic)
    valued = {d: o["valueQuantity"]["value"] for d, o in daily.items() if "valueQuantity" in o}
    expected = {d.isoformat(): n for d, n in sums.items() if d != LOW_WEAR}
    expected[TOTAL_ONLY.isoformat()] = 6000
    assert valued == expected
    assert all(o["status"] == "final" for o in daily.values())
    assert all(
        PA_TIME_MEASURE in o["meta"]["profile"] for o in daily.values() if "valueQuantity" in o
    )


def test_a_day_not_worn_is_never_a_zero(db_url, monkeypatch, clinic, patient):
    bundle = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)
    daily = observations(bundle, DAILY_STEPS)
    assert NOT_WORN.isoformat() not in daily
    low = daily[LOW_WEAR.isoformat()]
    assert "valueQuantity" not in low and low["dataAbsentReason"]["coding"][0]["code"] == "unknown"
    assert _no_zero_steps(bundle)


def test_weekly_minutes_are_the_rules_walking_minutes(db_url, monkeypatch, clinic, patient):
    bundle = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)
    weekly = observations(bundle, WEEKLY_MINUTES)
    # Programme week 0 starts after the 7 baseline days: 9 to 15 March.
    week = weekly["2026-03-09"]
    assert week["effectivePeriod"] == {"start": "2026-03-09", "end": "2026-03-15"}
    assert week["status"] == "final"
    # Five days with minute data (the low-wear one included) each hold one 35-minute walk.
    assert week["valueQuantity"]["value"] == 5 * 35
    assert "2026-03-02" not in weekly  # the baseline week is no programme week


def test_ids_are_stable_across_exports(db_url, monkeypatch, clinic, patient):
    one = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)
    two = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW + timedelta(hours=5))
    assert [r["id"] for r in resources(one)] == [r["id"] for r in resources(two)]
    narrower = export_bundle(db_url, monkeypatch, patient, date(2026, 3, 5), LAST, NOW)
    ids = {r["id"] for r in resources(one)}
    assert {r["id"] for r in resources(narrower)} < ids


def test_dst_day_is_one_local_day(db_url, monkeypatch, clinic, patient):
    dst = date(2026, 3, 8)  # New York springs forward at 02:00
    offsets = {r.utc_offset_s for r in clinic if r.local_date == dst}
    assert offsets == {-5 * 3600, -4 * 3600}
    bundle = export_bundle(db_url, monkeypatch, patient, dst, dst, NOW)
    (obs,) = [o for o in resources(bundle, "Observation") if "effectiveDateTime" in o]
    assert obs["effectiveDateTime"] == "2026-03-08"
    assert obs["valueQuantity"]["value"] == _local_sums(clinic)[dst]


def test_travel_day_follows_each_sample_offset(db_url, monkeypatch, factory, patient):
    """Flying New York -> London on 12 March: each sample's own offset says its day."""
    home = minutes(patient, date(2026, 3, 12), ZONE, hours=(5, 10), walk=(6, 30))
    away = minutes(patient, date(2026, 3, 12), "Europe/London", hours=(17, 23), walk=(18, 30))
    after_midnight = minutes(
        patient, date(2026, 3, 13), "Europe/London", hours=(0, 1), walk=(0, 20)
    )
    store(factory, home + away + after_midnight, devices=[device(patient)])
    enrol(factory, patient, date(2026, 3, 12))
    bundle = export_bundle(db_url, monkeypatch, patient, date(2026, 3, 12), date(2026, 3, 13),
                           datetime(2026, 3, 18, tzinfo=UTC))  # fmt: skip
    daily = observations(bundle, DAILY_STEPS)
    # In New York it was still 12 March at 00:30 in London: the sample's clock wins.
    assert daily["2026-03-12"]["valueQuantity"]["value"] == sum(r.steps for r in home + away)
    low = daily["2026-03-13"]  # an hour of data: low wear, and no 0 for it
    assert "valueQuantity" not in low


def test_provisional_day_settles_under_the_same_id(db_url, monkeypatch, factory, patient):
    days = days_between(date(2026, 3, 2), date(2026, 3, 5))
    rows = [r for d in days for r in minutes(patient, d, ZONE)]
    last = days[-1]
    store(factory, rows, [total(patient, last, 9999, provisional=True)], [device(patient)])
    enrol(factory, patient, days[0])
    now = datetime(2026, 3, 6, 15, tzinfo=UTC)
    before = observations(export_bundle(db_url, monkeypatch, patient, days[0], last, now),
                          DAILY_STEPS)[last.isoformat()]  # fmt: skip
    assert before["status"] == "preliminary" and "meta" not in before
    store(factory, totals=[total(patient, last, 9999, provisional=False)])
    after = observations(export_bundle(db_url, monkeypatch, patient, days[0], last, now),
                         DAILY_STEPS)[last.isoformat()]  # fmt: skip
    assert after["status"] == "final" and after["meta"]["profile"] == [PA_TIME_MEASURE]
    assert after["id"] == before["id"]
    assert after["valueQuantity"] == before["valueQuantity"]


def test_two_devices_one_day_give_one_figure_naming_its_device(
    db_url, monkeypatch, factory, patient
):
    day = date(2026, 3, 3)
    garmin = minutes(patient, day, ZONE)
    pixel = minutes(patient, day, ZONE, "google-health", "Pixel Watch 2", potter=20, cadence=120)
    pixel_info = device(patient, "google-health", "Pixel Watch 2", "Google")
    store(factory, garmin + pixel, devices=[device(patient), pixel_info])
    enrol(factory, patient, day)
    bundle = export_bundle(db_url, monkeypatch, patient, day, day, NOW)
    (obs,) = observations(bundle, DAILY_STEPS).values()
    assert obs["valueQuantity"]["value"] == sum(r.steps for r in garmin)  # never added up
    (dev,) = resources(bundle, "Device")
    assert obs["device"]["reference"] == f"urn:uuid:{dev['id']}"
    assert dev["deviceName"] == [{"name": "fenix-7", "type": "model-name"}]
    assert dev["manufacturer"] == "Garmin"
    assert "fenix-7" in obs["device"]["display"]


def test_ndjson_writes_one_file_per_type_for_the_clinic(
    db_url, monkeypatch, factory, clinic, patient, tmp_path
):
    from ingest.db import transaction
    from ingest.models import Patient

    with transaction(factory) as session:
        session.add(Patient(id="P2", name="Lee", timezone="Europe/London", therapist_id="T1"))
    store(factory, minutes("P2", date(2026, 3, 4), "Europe/London"), devices=[device("P2")])
    enrol(factory, "P2", date(2026, 3, 4))
    out = tmp_path / "bulk"
    result = cli(db_url, monkeypatch, "export", "steps", "--all", "--from", str(FIRST), "--to",
                 str(LAST), "--format", "fhir-ndjson", "-o", str(out), now=NOW)  # fmt: skip
    assert result.exit_code == 0, result.output
    files = {p.name: [json.loads(line) for line in p.read_text().splitlines()]
             for p in out.iterdir()}  # fmt: skip
    assert set(files) == {f"{k}.ndjson" for k in ("Patient", "Device", "Goal", "CarePlan",
                                                  "Observation")}  # fmt: skip
    assert sorted(p["identifier"][0]["value"] for p in files["Patient.ndjson"]) == ["P1", "P2"]
    patients = {f"Patient/{p['id']}" for p in files["Patient.ndjson"]}
    devices = {f"Device/{d['id']}" for d in files["Device.ndjson"]}
    for name, rows in files.items():
        assert all(r["resourceType"] == name.removesuffix(".ndjson") for r in rows)
        for r in rows:
            get_fhir_model_class(r["resourceType"]).model_validate(r)
    for obs in files["Observation.ndjson"]:
        check_ig_rules(obs, patients | devices)
    assert "2 patients" in result.stdout


def test_format_errors_are_refused_in_one_line(db_url, monkeypatch, patient):
    with pytest.raises(StridewiseError, match="is for one patient"):
        cli(db_url, monkeypatch, "export", "steps", "--all", "--from", "2026-03-01",
            "--to", "2026-03-02", "--format", "fhir")  # fmt: skip
    with pytest.raises(StridewiseError, match="nobody"):
        cli(db_url, monkeypatch, "export", "steps", "--patient", "nobody", "--from",
            "2026-03-01", "--to", "2026-03-02", "--format", "fhir")  # fmt: skip
    with pytest.raises(StridewiseError, match="--output"):
        cli(db_url, monkeypatch, "export", "steps", "--all", "--from", "2026-03-01",
            "--to", "2026-03-02", "--format", "fhir-ndjson")  # fmt: skip


def test_the_clinic_export_streams_a_chunk_at_a_time(factory, patient, monkeypatch, tmp_path):
    """Patients are loaded ``chunk`` at a time and written before the next chunk loads."""
    import interop.slices as slices_module
    from ingest.db import transaction
    from ingest.models import Patient
    from interop.bulk import write_ndjson

    with transaction(factory) as session:
        for n in range(2, 6):
            session.add(Patient(id=f"P{n}", name="X", timezone=ZONE, therapist_id="T1"))
    for n in range(1, 6):
        store(factory, minutes(f"P{n}", date(2026, 3, 4), ZONE))
    events = []
    real = slices_module.load_slices

    def spy(session, patients, now, **options):
        events.append(("load", [p.id for p in patients]))
        return real(session, patients, now, **options)

    def tap(slices):
        for s in slices:
            events.append(("write", s.patient_id))
            yield s

    monkeypatch.setattr(slices_module, "load_slices", spy)
    with factory() as session:
        report = write_ndjson(tap(slices_module.clinic_slices(session, NOW, chunk=2)), tmp_path)
    assert report.patients == 5
    assert events == [
        ("load", ["P1", "P2"]), ("write", "P1"), ("write", "P2"),
        ("load", ["P3", "P4"]), ("write", "P3"), ("write", "P4"),
        ("load", ["P5"]), ("write", "P5"),
    ]  # fmt: skip
