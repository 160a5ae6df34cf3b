"""``stridewise import fhir``: a Bundle back into daily totals. Our own export changes
nothing; another system's Bundle lands with provenance, bad entries refused one by one."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from ingest import dayview
from ingest.db import transaction
from ingest.models import DailyTotalRow, Device, Patient, StepIntervalRow
from interop.fhir import DAILY_STEPS, LOINC, PATIENT_SYSTEM, UCUM
from interop.fhir_import import parse_bundle
from tests.interop_support import FIRST, LAST, cli, export_bundle, two_weeks

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


def _snapshot(factory) -> dict:
    with factory() as session:
        return {
            table.__name__: sorted(
                tuple(getattr(row, c.key) for c in table.__table__.columns if c.key != "id")
                for row in session.scalars(select(table))
            )
            for table in (StepIntervalRow, DailyTotalRow, Device)
        }


def _days(factory, patient: str) -> list[tuple]:
    with factory() as session:
        days = dayview.load(session, [patient], FIRST, LAST).days
    return [(r.local_date.date(), int(r.steps)) for r in days.itertuples(index=False)]


def _import(db_url, monkeypatch, path):
    return cli(db_url, monkeypatch, "import", "fhir", str(path))


def test_export_then_import_changes_nothing(db_url, monkeypatch, factory, patient, tmp_path):
    two_weeks(factory, patient)
    bundle = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))
    before = _snapshot(factory)
    result = _import(db_url, monkeypatch, path)
    assert result.exit_code == 0, result.output
    assert "0 daily totals new or revised" in result.stdout
    daily = sum(1 for e in bundle["entry"] if "valueQuantity" in e["resource"]
                and e["resource"]["code"]["coding"][0]["code"] == DAILY_STEPS)  # fmt: skip
    assert f"{daily} unchanged" in result.stdout
    assert _snapshot(factory) == before


def test_import_elsewhere_gives_the_same_days(
    db_url, monkeypatch, factory, patient, tmp_path, sqlite_template
):
    """Another stridewise with the same patient and no data takes the figures as daily
    totals under the sources the Devices name."""
    two_weeks(factory, patient)
    bundle = export_bundle(db_url, monkeypatch, patient, FIRST, LAST, NOW)
    expected = _days(factory, patient)
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle))

    import shutil

    from ingest.db import make_engine, session_factory
    from ingest.models import Therapist

    other = tmp_path / "other.db"
    shutil.copy(sqlite_template, other)
    other_url = f"sqlite:///{other}"
    engine = make_engine(other_url)
    other_factory = session_factory(engine)
    with transaction(other_factory) as session:
        session.add(Therapist(id="T9", name="Dr B", email="b@example.org"))
        session.flush()
        session.add(Patient(id=patient, name="Pat", timezone="America/New_York",
                            therapist_id="T9"))  # fmt: skip
    result = _import(other_url, monkeypatch, path)
    assert result.exit_code == 0, result.output
    low_wear_and_missing = {date(2026, 3, 9), date(2026, 3, 10)}
    assert _days(other_factory, patient) == [d for d in expected
                                             if d[0] not in low_wear_and_missing]  # fmt: skip
    with other_factory() as session:
        providers = set(session.scalars(select(DailyTotalRow.provider)))
        devices = list(session.execute(select(Device.provider, Device.device,
                                              Device.manufacturer)))  # fmt: skip
    assert providers == {"garmin"}
    assert devices == [("garmin", "fenix-7", "Garmin")]
    engine.dispose()


def _obs(n: int, **changes) -> dict:
    obs = {
        "resourceType": "Observation",
        "id": f"o{n}",
        "status": "final",
        "code": {"coding": [{"system": LOINC, "code": DAILY_STEPS}]},
        "subject": {"reference": "Patient/p1"},
        "effectiveDateTime": f"2026-04-{n:02d}",
        "valueQuantity": {"value": 4000 + n, "unit": "steps/day", "system": UCUM, "code": "/d"},
        "device": {"reference": "Device/d1"},
    }
    obs.update(changes)
    return {k: v for k, v in obs.items() if v is not None}


def _foreign_bundle(patient: str) -> dict:
    entries = [
        {"resourceType": "Patient", "id": "p1",
         "identifier": [{"system": PATIENT_SYSTEM, "value": patient}]},
        {"resourceType": "Device", "id": "d1",
         "deviceName": [{"name": "Withings Pulse", "type": "model-name"}]},
        _obs(1),
        _obs(2, status="preliminary"),
        _obs(3, code={"coding": [{"system": LOINC, "code": "8867-4"}]}),
        _obs(4, valueQuantity={"value": 10, "unit": "km", "system": UCUM, "code": "km"}),
        _obs(5, effectiveDateTime="2026-04-05T10:00:00+01:00"),
        _obs(6, subject={"reference": "Patient/unknown"}),
        _obs(7, status="bogus"),
        _obs(8, subject={"identifier": {"system": PATIENT_SYSTEM, "value": "P404"}}),
        _obs(9, valueQuantity=None,
             dataAbsentReason={"coding": [{"code": "not-performed"}]}),
        {"resourceType": "Condition", "id": "c1", "subject": {"reference": "Patient/p1"}},
        _obs(10, subject={"identifier": {"system": PATIENT_SYSTEM, "value": patient}}),
        _obs(11, valueQuantity={"value": "many", "system": UCUM, "code": "/d"}),
        _obs(1, id="o1-again"),
    ]  # fmt: skip
    listed = [{"fullUrl": f"urn:x:{i}", "resource": r} for i, r in enumerate(entries)]
    return {"resourceType": "Bundle", "type": "collection", "entry": listed}


def test_foreign_bundle_lands_with_provenance_and_reasons(
    db_url, monkeypatch, factory, patient, tmp_path
):
    path = tmp_path / "foreign.json"
    path.write_text(json.dumps(_foreign_bundle(patient)))
    result = _import(db_url, monkeypatch, path)
    assert result.exit_code == 1  # something was refused
    assert "3 daily totals new or revised" in result.stdout
    refused = result.stderr
    for where, why in [
        ("o3", "8867-4 is not daily steps"),
        ("o4", "is not UCUM /d"),
        ("o5", "is not a date"),
        ("o6", "no patient identifier"),
        ("o7", "status 'bogus' is not a measurement"),
        ("o11", "not valid FHIR"),
        ("o8", "no patient 'P404' here"),
        ("c1", "a Condition is not step data"),
        ("o1-again", "repeats entry 3"),
    ]:
        line = next((ln for ln in refused.splitlines() if where + ")" in ln), "")
        assert why in line, (where, refused)
    assert "o9" not in refused  # a day with no figure is skipped, not refused
    with factory() as session:
        totals = {
            (r.local_date, r.steps, r.provisional, r.provider)
            for r in session.scalars(select(DailyTotalRow))
        }
        devices = list(session.execute(select(Device.provider, Device.device)))
    assert totals == {
        (date(2026, 4, 1), 4001, False, "fhir"),
        (date(2026, 4, 2), 4002, True, "fhir"),
        (date(2026, 4, 10), 4010, False, "fhir"),
    }
    assert devices == [("fhir", "Withings Pulse")]


def test_not_a_bundle_is_one_line(db_url, monkeypatch, patient, tmp_path):
    from core.errors import StridewiseError

    path = tmp_path / "obs.json"
    path.write_text(json.dumps(_obs(1)))
    with pytest.raises(StridewiseError, match="expected a FHIR Bundle"):
        _import(db_url, monkeypatch, path)
    path.write_text("{not json")
    with pytest.raises(StridewiseError, match="is not JSON"):
        _import(db_url, monkeypatch, path)


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 10**6) | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=3),
    max_leaves=8,
)  # fmt: skip
_field = st.sampled_from(["status", "code", "subject", "effectiveDateTime", "valueQuantity",
                          "device", "effectivePeriod", "dataAbsentReason", "meta"])  # fmt: skip


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(1, 28), st.dictionaries(_field, _json, max_size=3)),
                max_size=6))  # fmt: skip
def test_every_entry_is_mapped_skipped_or_refused(changes):
    """Whatever an Observation holds, parsing never fails and accounts for each entry."""
    bundle = _foreign_bundle("P1")
    bundle["entry"] += [{"resource": _obs(day, **fields)} for day, fields in changes]
    parsed = parse_bundle(bundle, NOW)
    context = 2  # the Patient and the Device
    assert len(parsed.mapped) + len(parsed.skipped) + len(parsed.refused) + context == len(
        bundle["entry"]
    )
    for m in parsed.mapped:
        assert m.total.steps >= 0 and isinstance(m.total.local_date, date)
