"""The rules on real people: the 11 shared Fitabase 2016 Fitbit wearers (issue 10).

Imported through the CSV path, every programme started on 2016-04-13, evaluated
day by day for the month as the daily job would; Fitbit's own daily figures
(``daily-activity.csv``) say which days the tracker was not worn
(``SedentaryMinutes == 1440``) and how much each person walks.
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter, defaultdict
from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from ingest.db import make_engine, session_factory, transaction, upgrade
from ingest.patients import add_patient, add_therapist
from ingest.programme_models import Alert
from rules.enrolment import start_programme
from rules.evaluate import evaluate
from rules.messages import PATIENT, render
from stridewise.imports.csv_import import import_csv

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "fitabase-2016"
START, LAST = date(2016, 4, 13), date(2016, 5, 12)
DAY_RULES = {"overdoing", "boom_bust", "inactive_streak", "implausible_data"}
OUTSIDE_BUDGET = {"flare", "disconnected"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not DATA.is_dir(), reason=f"no Fitabase data at {DATA}"),
]


def fitbit_days() -> dict[str, dict[date, dict]]:
    out: dict[str, dict[date, dict]] = defaultdict(dict)
    with (DATA / "daily-activity.csv").open(newline="") as handle:
        for row in csv.DictReader(handle):
            out[row["Id"]][date.fromisoformat(row["ActivityDate"])] = row
    return out


def snapshot(factory) -> list[tuple]:
    with factory() as session:
        return [
            (a.id, a.rule, a.period, a.audience, a.status, a.facts, a.muted, a.closed_at)
            for a in session.scalars(select(Alert).order_by(Alert.id))
        ]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory):
    """The month evaluated day by day; a few days are evaluated twice on the spot."""
    engine = make_engine(f"sqlite:///{tmp_path_factory.mktemp('fitabase') / 'f.db'}")
    upgrade(engine)
    factory = session_factory(engine)
    people = sorted(fitbit_days())
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        session.flush()
        for pid in people:
            add_patient(session, pid, pid, "America/New_York", "t1")
        session.flush()
        for pid in people:
            start_programme(session, pid, START)
    with gzip.open(DATA / "minute-steps.csv.gz", "rt", newline="") as handle:
        report = import_csv(factory, handle)
    assert not report.rejected
    reruns = []
    day = START
    while day <= LAST:
        result = evaluate(factory, today=day)
        assert result.failures == {}
        if day.day % 10 == 0:
            before = snapshot(factory)
            again = evaluate(factory, today=day).changes
            reruns.append((day, before, snapshot(factory), again))
        day += timedelta(days=1)
    with factory() as session:
        alerts = list(session.scalars(select(Alert).where(Alert.status != "withdrawn")))
    yield factory, alerts, reruns
    engine.dispose()


def alert_days(alert: Alert) -> set[date]:
    """The local days a day alert is about."""
    f = alert.facts
    if alert.rule == "overdoing":
        return {date.fromisoformat(d) for d in f["dates"]}
    if alert.rule == "inactive_streak":
        start, end = date.fromisoformat(f["start"]), date.fromisoformat(f["end"])
        return {start + timedelta(days=n) for n in range((end - start).days + 1)}
    first = date.fromisoformat(f["day"])
    return {first + timedelta(days=n) for n in range(len(f.get("after", [])) + 1)}


def test_no_day_alert_on_a_day_fitbit_marks_not_worn(cohort):
    _, alerts, _ = cohort
    fitbit = fitbit_days()
    not_worn = {
        (pid, day) for pid, days in fitbit.items() for day, row in days.items()
        if int(row["SedentaryMinutes"]) == 1440
    }  # fmt: skip
    assert not_worn, "the fixture has non-wear days"
    hits = [
        (a.patient_id, a.rule, day)
        for a in alerts
        if a.rule in DAY_RULES
        for day in alert_days(a)
        if (a.patient_id, day) in not_worn
    ]
    assert hits == []


def test_no_inactivity_alert_for_people_walking_7500_a_day(cohort):
    _, alerts, _ = cohort
    active = set()
    for pid, days in fitbit_days().items():
        worn = [int(r["TotalSteps"]) for d, r in days.items()
                if START <= d <= LAST and int(r["SedentaryMinutes"]) < 1440]  # fmt: skip
        if worn and sum(worn) / len(worn) >= 7500:
            active.add(pid)
    assert active, "the fixture has people averaging 7,500+ steps"
    assert [
        a.patient_id for a in alerts if a.rule == "inactive_streak" and a.patient_id in active
    ] == []


def test_at_most_two_patient_findings_a_week(cohort):
    """Flare and disconnected aside; muted findings reach only the therapist."""
    _, alerts, _ = cohort
    told = Counter(
        (a.patient_id, a.raised_on.isocalendar()[:2])
        for a in alerts
        if a.audience == PATIENT and a.rule not in OUTSIDE_BUDGET and not a.muted
    )
    assert max(told.values(), default=0) <= 2


def test_rerunning_a_day_changes_nothing(cohort):
    factory, _, reruns = cohort
    assert len(reruns) >= 3
    for day, before, after, changes in reruns:
        assert after == before, day
        assert changes.new == changes.closed == changes.withdrawn == changes.reopened == []
    before = snapshot(factory)
    evaluate(factory, today=LAST)
    assert snapshot(factory) == before


def test_every_alert_renders_and_ended_episodes_are_closed(cohort):
    """Words from facts: each stored alert renders; 'so far today' never outlives its day."""
    _, alerts, _ = cohort
    for a in alerts:
        text = render(a, LAST + timedelta(days=1)).text
        assert text and "so far today" not in text, (a.rule, a.facts)
    assert all(a.closed_at is not None for a in alerts if a.status == "closed")
