"""The write path: idempotent upserts, revisions, row-by-row rejection."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

import ingest.store as store
from core.schema import DailyTotal, DeviceInfo, StepBatch, StepInterval
from ingest.db import transaction
from ingest.models import DailyTotalRow, Device, Patient, StepIntervalRow
from ingest.pg_batch import MAX_ROWS
from ingest.programme_models import DirtyDay
from ingest.store import _checked_interval, _merge_pg, write_batch

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)


def minutes(
    patient: str, count: int, steps: int = 80, offset_s: int = -18000
) -> list[StepInterval]:
    return [
        StepInterval(
            patient,
            "csv",
            "phone",
            T0 + timedelta(minutes=i),
            T0 + timedelta(minutes=i + 1),
            offset_s,
            steps,
        )
        for i in range(count)
    ]


def write(factory, batch: StepBatch):
    with transaction(factory) as session:
        return write_batch(session, batch)


def test_same_batch_twice_changes_nothing(factory, patient):
    batch = StepBatch(minutes(patient, 50), [DailyTotal(patient, "garmin", date(2026, 3, 8), 4000)])
    first = write(factory, batch)
    second = write(factory, batch)
    assert (first.intervals_changed, first.totals_changed) == (50, 1)
    assert (second.intervals_changed, second.totals_changed) == (0, 0)
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(StepIntervalRow)) == 50
        assert session.scalar(select(func.sum(StepIntervalRow.steps))) == 50 * 80


def test_revised_values_overwrite(factory, patient):
    write(
        factory,
        StepBatch(
            minutes(patient, 10, steps=10),
            [DailyTotal(patient, "garmin", date(2026, 3, 8), 4000, provisional=True)],
        ),
    )
    report = write(
        factory,
        StepBatch(
            minutes(patient, 10, steps=12), [DailyTotal(patient, "garmin", date(2026, 3, 8), 5200)]
        ),
    )
    assert report.intervals_changed == 10 and report.totals_changed == 1
    with factory() as session:
        total = session.scalars(select(DailyTotalRow)).one()
        assert (total.steps, total.provisional) == (5200, False)
        assert session.scalar(select(func.sum(StepIntervalRow.steps))) == 120
        assert session.scalar(select(func.count()).select_from(StepIntervalRow)) == 10


def test_bad_rows_rejected_with_reason_good_rows_land(factory, patient):
    good = minutes(patient, 3)
    bad = [
        StepInterval(patient, "csv", "phone", T0, T0 + timedelta(minutes=1), 0, -5),
        StepInterval(patient, "csv", "phone", T0, T0 - timedelta(minutes=1), 0, 5),
        StepInterval("nobody", "csv", "phone", T0, T0 + timedelta(minutes=1), 0, 5),
        StepInterval(patient, "csv", "phone", T0, T0 + timedelta(minutes=1), 15 * 3600, 5),
        StepInterval(
            patient,
            "csv",
            "phone",
            T0.replace(tzinfo=None),
            T0.replace(tzinfo=None) + timedelta(minutes=1),
            0,
            5,
        ),
    ]
    totals = [
        DailyTotal(patient, "garmin", date(2026, 3, 8), -1),
        DailyTotal(patient, "garmin", date(2026, 3, 9), 100),
    ]
    report = write(factory, StepBatch(good + bad, totals))
    reasons = {(r.table, r.index): r.reason for r in report.rejected}
    assert "negative steps" in reasons[("step_intervals", 3)]
    assert "not after start" in reasons[("step_intervals", 4)]
    assert "unknown patient 'nobody'" in reasons[("step_intervals", 5)]
    assert "beyond +-14 h" in reasons[("step_intervals", 6)]
    assert (
        "UTC offset" in reasons[("step_intervals", 7)] or "offset" in reasons[("step_intervals", 7)]
    )
    assert "negative steps" in reasons[("daily_totals", 0)]
    assert len(report.rejected) == 6
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(StepIntervalRow)) == 3
        assert session.scalars(select(DailyTotalRow.local_date)).all() == [date(2026, 3, 9)]


def test_local_date_comes_from_the_samples_offset(factory, patient):
    late_evening_utc = datetime(2026, 3, 9, 3, 30, tzinfo=UTC)  # 22:30 on the 8th in New York
    rows = [
        StepInterval(
            patient,
            "csv",
            "phone",
            late_evening_utc,
            late_evening_utc + timedelta(minutes=1),
            -5 * 3600,
            40,
        ),
        StepInterval(
            patient,
            "csv",
            "phone",
            late_evening_utc + timedelta(hours=10),
            late_evening_utc + timedelta(hours=10, minutes=1),
            9 * 3600,
            40,
        ),
    ]
    write(factory, StepBatch(rows))
    with factory() as session:
        got = session.execute(
            select(StepIntervalRow.local_date, StepIntervalRow.utc_offset_s).order_by(
                StepIntervalRow.start_utc
            )
        ).all()
    assert [tuple(r) for r in got] == [(date(2026, 3, 8), -18000), (date(2026, 3, 9), 32400)]


def test_instants_round_trip_as_aware_utc(factory, patient):
    write(factory, StepBatch(minutes(patient, 1)))
    with factory() as session:
        row = session.scalars(select(StepIntervalRow)).one()
    assert row.start_utc == T0 and row.start_utc.tzinfo is not None
    assert row.resolution_s == 60


def test_duplicate_within_one_batch_last_wins(factory, patient):
    a, b = minutes(patient, 1, steps=5) + minutes(patient, 1, steps=9)
    report = write(factory, StepBatch([a, b]))
    assert report.intervals_accepted == 1
    with factory() as session:
        assert session.scalars(select(StepIntervalRow.steps)).all() == [9]


def test_devices_recorded_once_with_latest_provenance(factory, patient):
    write(factory, StepBatch(devices=[DeviceInfo(patient, "google-health", "Charge 6")]))
    write(
        factory,
        StepBatch(
            devices=[
                DeviceInfo(
                    patient,
                    "google-health",
                    "Charge 6",
                    platform="FITBIT",
                    form_factor="FITNESS_BAND",
                )
            ]
        ),
    )
    with factory() as session:
        device = session.scalars(select(Device)).one()
    assert (device.platform, device.form_factor) == ("FITBIT", "FITNESS_BAND")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    instant=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(
        [
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "Pacific/Kiritimati",
            "Pacific/Pago_Pago",
            "Asia/Kathmandu",
        ]
    ),
)
def test_stored_local_date_is_the_wall_date_at_the_samples_offset(factory, patient, instant, zone):
    """Property: what lands in step_intervals.local_date is the wearer's calendar date at the
    offset the source reported, in any zone and across DST, on both backends."""
    wall = instant.astimezone(ZoneInfo(zone))
    offset = int(wall.utcoffset().total_seconds())
    row = StepInterval(patient, "csv", zone, instant, instant + timedelta(minutes=1), offset, 1)
    write(factory, StepBatch([row]))
    with factory() as session:
        stored = session.execute(
            select(StepIntervalRow.local_date, StepIntervalRow.start_utc).where(
                StepIntervalRow.device == zone, StepIntervalRow.start_utc == instant
            )
        ).one()
    assert stored.local_date == wall.date()
    assert stored.start_utc == instant


def test_the_postgresql_merge_fallback_keeps_one_row_per_key(engine, factory, patient):
    """What a writer falls back to when another one inserted the same keys between
    its read and its COPY: stage, then INSERT ... ON CONFLICT DO UPDATE."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the COPY path and its fallback are PostgreSQL's")
    write(factory, StepBatch(minutes(patient, 10, steps=10)))
    revised = StepBatch(minutes(patient, 5, steps=10) + minutes(patient, 15, steps=99)[5:])
    rows = {}
    with transaction(factory) as session:
        for interval in revised.intervals:
            checked = _checked_interval(interval, {patient})
            rows[checked[:5]] = checked
        _merge_pg(session, list(rows.values()))
    with factory() as session:
        stored = session.execute(select(StepIntervalRow.steps).order_by("start_utc")).scalars()
        assert list(stored) == [10] * 5 + [99] * 10


def dirty_days(factory) -> set[date]:
    with factory() as session:
        return set(session.scalars(select(DirtyDay.local_date)))


def clear_dirty(factory) -> None:
    with transaction(factory) as session:
        session.execute(delete(DirtyDay))


@pytest.mark.parametrize("size", [30, MAX_ROWS + 1], ids=["one-statement", "copy"])
def test_both_write_paths_write_only_what_changed_and_mark_its_days(factory, patient, size):
    """A routine sync's batch (one statement per table on PostgreSQL) and a larger one
    (COPY there) agree: new rows counted, re-writes counted as nothing and marking
    nothing, a revision counted row by row and marking only its own day."""
    rows = minutes(patient, size, steps=5, offset_s=0)
    totals = [DailyTotal(patient, "garmin", date(2026, 3, 8), 700)]
    first = write(factory, StepBatch(rows, totals))
    assert (first.intervals_changed, first.totals_changed) == (size, 1)
    days = {r.local_date for r in rows}
    assert dirty_days(factory) == days
    clear_dirty(factory)

    again = write(factory, StepBatch(rows, totals))
    assert (again.intervals_changed, again.totals_changed) == (0, 0)
    assert dirty_days(factory) == set()

    last = rows[-1]
    revised = [*rows[:-1], replace(last, steps=9)]
    report = write(factory, StepBatch(revised, totals))
    assert (report.intervals_changed, report.totals_changed) == (1, 0)
    assert dirty_days(factory) == {last.local_date}
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(StepIntervalRow)) == size
        assert session.scalar(select(func.sum(StepIntervalRow.steps))) == 5 * (size - 1) + 9


@pytest.mark.parametrize("size", [30, MAX_ROWS + 1], ids=["one-statement", "copy"])
def test_a_row_a_corrected_offset_moves_marks_both_days(factory, patient, size):
    """06:00 UTC is 8 March at +0 and 7 March at -7 h: a revision of the offset
    moves the row's steps from one day to the other, so both are recomputed."""
    rows = minutes(patient, size, offset_s=0)
    write(factory, StepBatch(rows))
    clear_dirty(factory)
    moved = replace(rows[0], utc_offset_s=-25200)
    report = write(factory, StepBatch([moved, *rows[1:]]))
    assert report.intervals_changed == 1
    assert dirty_days(factory) == {date(2026, 3, 8), date(2026, 3, 7)}


def test_two_writers_of_the_same_new_rows_store_them_once(engine, factory, patient):
    """Two transactions insert the same new keys, the second before the first commits:
    it waits, then finds them stored (no unique violation, nothing doubled)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time")
    batch = StepBatch(minutes(patient, 20, steps=7))
    first = factory()
    first.begin()
    assert write_batch(first, batch).intervals_changed == 20
    outcome: dict = {}
    second = threading.Thread(target=lambda: outcome.update(report=write(factory, batch)))
    second.start()
    second.join(timeout=1)
    assert second.is_alive(), "the second writer should wait on the first's rows"
    first.commit()
    first.close()
    second.join(timeout=30)
    assert outcome["report"].intervals_changed == 0
    with factory() as session:
        assert session.scalar(select(func.count()).select_from(StepIntervalRow)) == 20


_SAMPLE = st.tuples(
    st.integers(0, 9),  # start minute: few, so batches revise each other's rows
    st.sampled_from(["watch", "phone"]),  # device
    st.sampled_from([0, 60]),  # steps
    st.sampled_from([0, -25200]),  # UTC offset: -7 h puts 06:00 UTC on the day before
    st.sampled_from([None, "MANUAL", "PASSIVELY_MEASURED"]),  # recording method
)
_TOTAL = st.tuples(st.integers(0, 1), st.sampled_from([4000, 5000]), st.booleans())


def _batch(patient: str, samples, totals) -> StepBatch:
    intervals = [StepInterval(patient, "google-health", device, T0 + timedelta(minutes=m),
                              T0 + timedelta(minutes=m + 1), offset, steps, method)
                 for m, device, steps, offset, method in samples]  # fmt: skip
    days = [DailyTotal(patient, "google-health", date(2026, 3, 7) + timedelta(days=d), steps,
                       provisional) for d, steps, provisional in totals]  # fmt: skip
    return StepBatch(intervals, days, [DeviceInfo(patient, "google-health", "watch", "FITBIT")])


def _stored(factory, patient: str) -> tuple:
    with factory() as session:
        intervals = session.execute(
            select(StepIntervalRow.start_utc, StepIntervalRow.device, StepIntervalRow.steps,
                   StepIntervalRow.utc_offset_s, StepIntervalRow.local_date,
                   StepIntervalRow.recording_method)
            .where(StepIntervalRow.patient_id == patient).order_by("start_utc", "device")
        ).all()  # fmt: skip
        totals = session.execute(
            select(DailyTotalRow.local_date, DailyTotalRow.steps, DailyTotalRow.provisional)
            .where(DailyTotalRow.patient_id == patient).order_by("local_date")
        ).all()  # fmt: skip
        dirty = set(
            session.scalars(select(DirtyDay.local_date).where(DirtyDay.patient_id == patient))
        )
    return intervals, totals, dirty


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(batches=st.lists(st.tuples(st.lists(_SAMPLE, min_size=3, max_size=25),
                                  st.lists(_TOTAL, max_size=3)),
                        min_size=2, max_size=4))  # fmt: skip
def test_the_two_postgresql_write_paths_agree(engine, factory, patient, batches):
    """Property: the same sequence of batches (revisions, duplicates within a batch,
    moved offsets, two devices) written by the one-statement path for one patient
    and by the COPY path for another leaves the same rows, totals and dirty days,
    with the same counts written at every step."""
    if engine.dialect.name != "postgresql":
        pytest.skip("the two paths are PostgreSQL's")
    with transaction(factory) as session:
        if session.get(Patient, "P2") is None:
            session.add(Patient(id="P2", name="Twin", timezone="UTC", therapist_id="T1"))
        for table in (StepIntervalRow, DailyTotalRow, DirtyDay, Device):
            session.execute(delete(table))
    default = store.MAX_ROWS
    try:
        for samples, totals in batches:
            counts = []
            for who, limit in ((patient, 10**9), ("P2", -1)):
                store.MAX_ROWS = limit
                report = write(factory, _batch(who, samples, totals))
                counts.append((report.intervals_changed, report.totals_changed))
            assert counts[0] == counts[1]
    finally:
        store.MAX_ROWS = default
    assert _stored(factory, patient) == _stored(factory, "P2")
