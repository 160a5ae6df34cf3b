"""Day summaries kept, not recomputed (issue 10): the write path marks changed days
dirty, an evaluation recomputes only those and agrees with a full recompute."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
from rules_support import Day, minute_rows
from sqlalchemy import select

from core.schema import StepBatch, StepInterval
from ingest.db import transaction
from ingest.models import Patient
from ingest.patients import add_patient, add_therapist
from ingest.programme_models import DaySummary, DirtyDay
from ingest.store import write_batch
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


def summaries(factory) -> dict[date, tuple]:
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
    first = summaries(factory)
    assert set(first) == set(days) and dirty(factory) == set()

    write(factory, days)  # re-ingesting the same data changes nothing
    assert dirty(factory) == set()
    late = FIRST + timedelta(days=12)
    write(factory, {late: Day(walks=((9, 20), (17, 40)))})  # a late upload revises one day
    assert dirty(factory) == {late}
    evaluate(factory, now=NOW)
    second = summaries(factory)
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
