"""Day summaries kept, not recomputed (issue 10): the write path marks changed days
dirty, an evaluation recomputes only those and agrees with a full recompute."""

from __future__ import annotations

import shutil
import uuid
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rules_support import Day, minute_rows
from sqlalchemy import select

from core.schema import DailyTotal, StepBatch, StepInterval
from ingest.db import make_engine, session_factory, transaction
from ingest.models import Patient
from ingest.patients import add_patient, add_therapist
from ingest.programme_models import DaySummary, DirtyDay
from ingest.store import write_batch
from rules import summaries
from rules.enrolment import start_programme
from rules.evaluate import assess, evaluate
from rules.metrics import INTERVAL_METRIC_COLUMNS

ZONE = "Europe/London"
FIRST = date(2026, 3, 2)
NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)


def write(factory, days: dict[date, Day]) -> None:
    batch = StepBatch()
    for day, spec in days.items():
        for r in minute_rows("p1", day, ZONE, spec):
            batch.intervals.append(StepInterval("p1", r[1], r[2], r[3], r[4], r[5], r[7]))
    with transaction(factory) as session:
        write_batch(session, batch)


def stored(factory) -> dict[date, tuple]:
    with factory() as session:
        rows = session.scalars(select(DaySummary).where(DaySummary.patient_id == "p1"))
        return {r.local_date: (r.computed_at, r.walking_minutes, r.threshold) for r in rows}


def dirty(factory) -> set[date]:
    with factory() as session:
        return set(session.scalars(select(DirtyDay.local_date)))


def test_only_changed_days_are_recomputed_and_agree_with_a_full_run(factory):
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        session.flush()
        add_patient(session, "p1", "Sam", ZONE, "t1")
        session.flush()
        start_programme(session, "p1", FIRST + timedelta(days=7))
    days = {FIRST + timedelta(days=n): Day(walks=((9, 20),)) for n in range(14)}
    write(factory, days)
    assert dirty(factory) == set(days)
    evaluate(factory, now=NOW)
    first = stored(factory)
    assert set(first) == set(days) and dirty(factory) == set()

    write(factory, days)  # re-ingesting the same data changes nothing
    assert dirty(factory) == set()
    late = FIRST + timedelta(days=12)
    write(factory, {late: Day(walks=((9, 20), (17, 40)))})  # a late upload revises one day
    assert dirty(factory) == {late}
    evaluate(factory, now=NOW)
    second = stored(factory)
    assert dirty(factory) == set()
    changed = {d for d in days if second[d] != first[d]}
    assert changed == {late} and second[late][1] == first[late][1] + 40

    with factory() as session:
        p1 = session.get(Patient, "p1")
        full = assess(session, [p1], NOW)  # no cache: everything recomputed
    with factory() as session:
        cached = assess(session, [p1], NOW, cached=True)
    columns = ["patient_id", "local_date", *INTERVAL_METRIC_COLUMNS]
    pd.testing.assert_frame_equal(full.days[columns], cached.days[columns])
    assert cached.recomputed.empty


def enrol(factory, start: date) -> None:
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        session.flush()
        add_patient(session, "p1", "Sam", ZONE, "t1")
        session.flush()
        start_programme(session, "p1", start)


def plan_of(factory, now: datetime) -> summaries.Plan:
    """What the next cached evaluation reads (rolled back: nothing stored)."""
    with factory() as session:
        plan = assess(session, [session.get(Patient, "p1")], now, cached=True).reads
        session.rollback()
    return plan


def test_a_daily_run_reads_only_the_changed_day_and_a_baseline_change_reads_all(factory):
    enrol(factory, FIRST + timedelta(days=7))
    days = {FIRST + timedelta(days=n): Day(walks=((9, 20),)) for n in range(14)}
    write(factory, days)
    assert plan_of(factory, NOW).full == ["p1"]  # never evaluated: the whole history
    evaluate(factory, now=NOW)

    late = FIRST + timedelta(days=12)
    write(factory, {late: Day(walks=((9, 20), (17, 40)))})
    plan = plan_of(factory, NOW)
    assert plan.full == [] and list(plan.reread["local_date"].dt.date) == [late]
    assert len(plan.kept) == 13 and late not in set(plan.kept["local_date"].dt.date)
    evaluate(factory, now=NOW)

    write(factory, {FIRST + timedelta(days=2): Day(walks=((9, 50),))})  # a baseline day
    assert plan_of(factory, NOW).full == ["p1"]  # the calibration is redone
    evaluate(factory, now=NOW)
    assert plan_of(factory, NOW).reread.empty

    with transaction(factory) as session:  # new source priority: every day again
        session.get(Patient, "p1").source_priority = ["google-health/*", "csv/*"]
    assert plan_of(factory, NOW).full == ["p1"]


DAY_SPECS = st.builds(
    Day,
    walks=st.lists(st.tuples(st.integers(7, 20), st.integers(1, 45)), max_size=3).map(tuple),
    worn=st.booleans(),
    potter=st.sampled_from([0, 10, 30]),
    cadence=st.integers(70, 130),
)
STEPS = st.lists(
    st.tuples(
        st.sampled_from(["write", "write_other", "evaluate"]),
        st.integers(0, 20),  # day offset from FIRST
        DAY_SPECS,
    ),
    min_size=1,
    max_size=8,
)


# Each example works in its own database file under tmp_path (unique names).
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=STEPS)
def test_cached_evaluation_always_agrees_with_a_full_recompute(sqlite_template, tmp_path, steps):
    """Whatever order data arrives and evaluations run in (late uploads, a second
    source, days back and forth), the kept summaries give the full recompute's days."""
    path = tmp_path / f"{uuid.uuid4().hex}.db"
    shutil.copy(sqlite_template, path)
    engine = make_engine(f"sqlite:///{path}")
    factory = session_factory(engine)
    try:
        enrol(factory, FIRST + timedelta(days=7))
        for action, offset, spec in steps:
            day = FIRST + timedelta(days=offset)
            if action == "evaluate":
                evaluate(factory, today=day, now=NOW + timedelta(days=30))
                continue
            provider = "csv" if action == "write" else "google-health"
            rows = minute_rows("p1", day, ZONE, spec, provider=provider)
            batch = StepBatch(
                intervals=[StepInterval("p1", r[1], r[2], r[3], r[4], r[5], r[7]) for r in rows]
            )
            with transaction(factory) as session:
                write_batch(session, batch)
        for today in (FIRST + timedelta(days=20), FIRST + timedelta(days=9)):
            with factory() as session:
                p1 = session.get(Patient, "p1")
                later = NOW + timedelta(days=30)
                full = assess(session, [p1], later, today)
                cached = assess(session, [p1], later, today, cached=True)
                session.commit()
            columns = ["patient_id", "local_date", "steps", "source", "status",
                       *INTERVAL_METRIC_COLUMNS]  # fmt: skip
            shown = [c for c in columns if c in full.days.columns]
            pd.testing.assert_frame_equal(full.days[shown], cached.days[shown])
            pd.testing.assert_series_equal(
                full.params["cadence_threshold"], cached.params["cadence_threshold"]
            )
            pd.testing.assert_frame_equal(
                full.findings.reset_index(drop=True), cached.findings.reset_index(drop=True)
            )
    finally:
        engine.dispose()


def test_nothing_changed_with_daily_totals_reads_no_interval_and_agrees(factory):
    """A daily run with no dirty day reads nothing, and days known only by a
    provider's daily total still come out as a full recompute has them."""
    enrol(factory, FIRST + timedelta(days=7))
    write(factory, {FIRST + timedelta(days=n): Day(walks=((9, 20),)) for n in range(10)})
    totals = [DailyTotal("p1", "garmin", FIRST + timedelta(days=n), 6000) for n in (10, 11)]
    with transaction(factory) as session:
        write_batch(session, StepBatch(daily_totals=totals))
    evaluate(factory, now=NOW)
    with factory() as session:
        p1 = session.get(Patient, "p1")
        cached = assess(session, [p1], NOW, cached=True)
        full = assess(session, [p1], NOW)
    assert cached.reads.full == [] and cached.reads.reread.empty
    columns = ["local_date", "steps", "source", "status", *INTERVAL_METRIC_COLUMNS]
    pd.testing.assert_frame_equal(full.days[columns], cached.days[columns])
    totals_only = cached.days[cached.days["local_date"] >= pd.Timestamp(FIRST + timedelta(10))]
    assert list(totals_only["steps"][:2]) == [6000, 6000]
