"""The rules service on a real database (SQLite and PostgreSQL): alert records,
late-sync withdrawal, sync state, reports, the CLI and the demo stories."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from rules_support import Day, minute_rows
from sqlalchemy import select
from typer.testing import CliRunner

from core.errors import NotFound, StridewiseError
from core.schema import StepBatch, StepInterval
from ingest.db import transaction
from ingest.models import LinkedAccount, PainReport, Patient
from ingest.patients import add_patient, add_therapist
from ingest.programme_models import Alert
from ingest.store import write_batch
from rules.enrolment import start_programme
from rules.evaluate import assess, evaluate
from rules.reports import add_exempt, add_pain
from stridewise.cli.main import app
from stridewise.demo.stories import evaluate_stories, seed_stories, stories, story_alerts

ZONE = "Europe/London"
FIRST = date(2026, 3, 2)
TODAY = date(2026, 3, 20)
NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)
WALKER = Day(walks=((9, 30),))


def write_days(factory, days: dict[date, Day], patient: str = "p1") -> None:
    batch = StepBatch()
    for day, spec in days.items():
        for r in minute_rows(patient, day, ZONE, spec):
            batch.intervals.append(StepInterval(patient, r[1], r[2], r[3], r[4], r[5], r[7]))
    with transaction(factory) as session:
        report = write_batch(session, batch)
    assert not report.rejected


def clinic(
    factory,
    status: str = "active",
    error_kind: str | None = None,
    start: date | None = FIRST + timedelta(days=7),
    **account,
) -> None:
    """Therapist t1, patient p1 linked on FIRST, the programme started a week later
    (``start``; None: not enrolled)."""
    linked = datetime.combine(FIRST, time(8), ZoneInfo(ZONE))
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        session.flush()
        add_patient(session, "p1", "Sam", ZONE, "t1")
        session.flush()
        if start is not None:
            start_programme(session, "p1", start)
        session.add(
            LinkedAccount(
                patient_id="p1",
                provider="csv",
                credentials=b"unused",
                status=status,
                last_error_kind=error_kind,
                created_at=linked,
                updated_at=account.pop("updated_at", linked),
                last_success_at=account.pop("last_success_at", NOW - timedelta(hours=1)),
                next_sync_due=None,
            )
        )


def alerts(factory) -> list[Alert]:
    with factory() as session:
        return list(session.scalars(select(Alert).order_by(Alert.id)))


def days_until(last: date, spec: Day = WALKER) -> dict[date, Day]:
    out, day = {}, FIRST
    while day <= last:
        out[day] = spec
        day += timedelta(days=1)
    return out


def test_evaluate_is_idempotent_and_a_late_sync_withdraws(factory):
    """'an alert is keyed (patient, rule, period) so re-running the rules never sends it
    twice; a day that is later backfilled withdraws alerts that no longer hold.'"""
    clinic(factory)
    days = days_until(TODAY)
    for n in (15, 16, 17):  # synced without the walks (a phone's steps came first)
        days[date(2026, 3, n)] = Day()
    write_days(factory, days)
    first = evaluate(factory, now=NOW)
    assert [(a.rule, a.period, a.audience) for a in first.changes.new] == [
        ("inactive_streak", "from 2026-03-15", "patient")
    ]
    # the walks of the 18th ended the streak: one episode, stored closed
    (episode,) = alerts(factory)
    assert episode.status == "closed" and episode.closed_at is not None
    assert episode.facts["start"] == "2026-03-15" and episode.facts["days"] == 3
    again = evaluate(factory, now=NOW)
    assert again.changes.new == again.changes.closed == again.changes.still_open == []
    (same,) = alerts(factory)
    assert (same.status, same.closed_at, same.facts) == ("closed", episode.closed_at, episode.facts)

    write_days(factory, {date(2026, 3, 16): WALKER})  # the watch's minutes arrive late
    late = evaluate(factory, now=NOW)
    assert [a.rule for a in late.changes.withdrawn] == ["inactive_streak"]
    (stored,) = alerts(factory)
    assert stored.status == "withdrawn" and "later data" in stored.withdrawn_reason
    assert evaluate(factory, now=NOW).changes.withdrawn == []


def test_disconnected_from_the_auth_revoked_event(factory):
    """disconnected: 'the provider refused our tokens (revoked, expired refresh)' ->
    patient (relink link) + therapist, from the sync engine's needs_relink state."""
    revoked_at = datetime(2026, 3, 18, 10, tzinfo=UTC)
    clinic(factory, status="needs_relink", error_kind="auth_revoked", updated_at=revoked_at)
    write_days(factory, days_until(TODAY))
    result = evaluate(factory, now=NOW)
    assert {(a.rule, a.period, a.audience) for a in result.changes.new} == {
        ("disconnected", "since 2026-03-18", "patient"),
        ("disconnected", "since 2026-03-18", "therapist"),
    }


def test_no_sync_counts_from_the_newest_stored_data(factory):
    """no sync: 'no new data for 48 h; 5 days': the account syncs, nothing new arrives."""
    clinic(factory)
    write_days(factory, days_until(date(2026, 3, 14)))
    result = evaluate(factory, now=NOW)
    assert {(a.rule, a.audience) for a in result.changes.new} == {
        ("no_sync", "patient"),
        ("no_sync", "therapist"),
    }
    assert {a.period for a in result.changes.new} == {"since 2026-03-14"}


def test_a_linked_patient_without_any_data_yet(factory):
    """'a day with nothing synced is missing': no data since linking is a sync gap,
    never an inactive streak or a failed target."""
    clinic(factory)
    result = evaluate(factory, now=NOW)
    # 18 days since linking: too soon for the 30-day completeness window
    assert {(a.rule, a.period, a.audience) for a in result.changes.new} == {
        ("no_sync", "since 2026-03-02", "patient"),
        ("no_sync", "since 2026-03-02", "therapist"),
    }


def test_evaluating_a_past_date_leaves_later_alerts_alone(factory):
    """'never judge a provisional day as failed': as of 17 March the streak is not
    judged yet, and the alert about it is not withdrawn by that evaluation."""
    clinic(factory)
    days = days_until(TODAY)
    for n in (15, 16, 17):
        days[date(2026, 3, n)] = Day()
    write_days(factory, days)
    evaluate(factory, now=NOW)
    past = evaluate(factory, today=date(2026, 3, 17), now=NOW)
    assert past.changes.new == [] and past.changes.withdrawn == []
    assert [a.status for a in alerts(factory)] == ["closed"]  # the walk of the 18th


def test_pain_and_exempt_reports_are_validated(factory):
    """'validation with clear errors (score outside 0-10, date in the future, unknown
    patient)'."""
    clinic(factory)
    with transaction(factory) as session:
        add_pain(session, "p1", 4, "after the hill", datetime(2026, 3, 19, 19), now=NOW)
        add_exempt(session, "p1", date(2026, 3, 19), "weather", now=NOW)
        add_exempt(session, "p1", date(2026, 3, 19), "illness", now=NOW)  # corrected
    with pytest.raises(StridewiseError, match="outside 0-10"), transaction(factory) as session:
        add_pain(session, "p1", 11, now=NOW)
    with pytest.raises(StridewiseError, match="in the future"), transaction(factory) as session:
        add_pain(session, "p1", 3, at=NOW + timedelta(hours=1), now=NOW)
    with pytest.raises(StridewiseError, match="in the future"), transaction(factory) as session:
        add_exempt(session, "p1", date(2026, 3, 21), "travel", now=NOW)
    with (
        pytest.raises(StridewiseError, match="reason must be one of"),
        transaction(factory) as session,
    ):
        add_exempt(session, "p1", date(2026, 3, 18), "holiday", now=NOW)
    with pytest.raises(NotFound), transaction(factory) as session:
        add_pain(session, "nobody", 3, now=NOW)
    with factory() as session:
        (report,) = session.scalars(select(PainReport)).all()
        assert report.score == 4
        assert report.reported_at == datetime(2026, 3, 19, 19, tzinfo=UTC)  # GMT in March


def test_exempt_days_stop_an_inactivity_alert(factory):
    """'Days a patient marks as exempt (illness, travel, bad weather) pause the
    under-target and inactivity rules.'"""
    clinic(factory)
    days = days_until(TODAY)
    for n in (15, 16, 17):
        days[date(2026, 3, n)] = Day()
    write_days(factory, days)
    with transaction(factory) as session:
        add_exempt(session, "p1", date(2026, 3, 16), "illness", now=NOW)
    assert evaluate(factory, now=NOW).changes.new == []


@pytest.fixture
def cli(db_url, monkeypatch):
    """The CLI in-process against the test database (configured by environment)."""
    monkeypatch.setenv("STRIDEWISE_DATABASE_URL", db_url)
    yield lambda *args: CliRunner().invoke(app, list(args), catch_exceptions=False)


def test_cli_evaluate_and_alerts_json(factory, cli):
    """`stridewise alerts list --format json`: a list of objects with patient, rule,
    period, audience, status, message."""
    clinic(factory)
    write_days(factory, days_until(date(2026, 3, 14)))
    result = cli("evaluate", "--patient", "p1")
    assert result.exit_code == 0 and "no_sync" in result.output
    listed = json.loads(cli("alerts", "list", "--format", "json").output)
    # the real clock is months past the data: nothing new, and a gap in monitoring
    assert {r["rule"] for r in listed} == {"no_sync", "low_completeness"}
    for record in listed:
        assert {"patient", "rule", "period", "audience", "status", "message"} <= record.keys()
        assert record["patient"] == "p1" and record["status"] == "open"
    assert cli("evaluate").exit_code == 0
    assert len(json.loads(cli("alerts", "list", "--format", "json").output)) == len(listed)
    plan = cli("plan", "show", "--patient", "p1")
    assert plan.exit_code == 0 and "baseline" in plan.output


def test_demo_stories_raise_exactly_their_alerts(factory):
    """The five demo stories each raise the alerts of their story and no others."""
    with transaction(factory) as session:
        add_therapist(session, "demo-t", "Ana", "ana@clinic.example")
    seed_stories(factory, TODAY, "demo-t")
    evaluate_stories(factory, TODAY)
    found = story_alerts(factory)
    for story in stories():
        assert found[story.patient_id] == story.expected, story.patient_id
    count = len(alerts(factory))
    evaluate_stories(factory, TODAY)
    assert len(alerts(factory)) == count


@pytest.mark.parametrize("today", [date(2026, 3, 1), date(2026, 3, 4)], ids=["before", "baseline"])
def test_nothing_is_judged_before_the_programme_or_in_its_baseline_week(factory, today):
    """'Baseline: the first 7 days after linking': no plan yet, so nothing to fall short of."""
    clinic(factory)
    write_days(factory, days_until(date(2026, 3, 4), Day()))
    result = evaluate(factory, today=today, now=NOW)
    assert result.changes.new == [] and alerts(factory) == []


def test_a_pain_report_without_step_data_does_not_stop_the_others(factory):
    """Issue 9: `evaluate` failed for everyone (NaN to integer in the flare computation)
    when one patient had a pain report but no step data."""
    clinic(factory)
    write_days(factory, days_until(TODAY))
    with transaction(factory) as session:
        add_patient(session, "p2", "Kim", ZONE, "t1")
        session.flush()
        add_pain(session, "p2", 7, at=datetime(2026, 3, 19, 9), now=NOW)
    result = evaluate(factory, now=NOW)
    assert result.failures == {} and result.patients == 2


def test_one_patients_failure_is_recorded_and_the_others_are_evaluated(factory, cli):
    """'One patient's data must never stop the daily job for the others: isolate each
    patient, record the failure, go on, and exit non-zero with a summary.'"""
    clinic(factory)
    days = days_until(TODAY)
    for n in (15, 16, 17):
        days[date(2026, 3, n)] = Day()
    write_days(factory, days)
    with transaction(factory) as session:
        add_patient(session, "p0", "Kim", ZONE, "t1").programme = "no-such-programme"
    result = evaluate(factory, now=NOW)
    assert list(result.failures) == ["p0"] and "no-such-programme" in result.failures["p0"]
    assert [(a.patient_id, a.rule) for a in result.changes.new] == [("p1", "inactive_streak")]
    run = cli("evaluate")
    assert run.exit_code == 1 and "1 failed: p0" in run.output


def test_patients_with_data_but_none_enrolled_are_evaluated(factory):
    """With no programme start anywhere there is nothing to judge: the inactivity rule
    got zero rows and crashed (a run start made for an empty array)."""
    clinic(factory, start=None)
    write_days(factory, days_until(TODAY, Day()))
    with factory() as session:
        result = assess(session, [session.get(Patient, "p1")], NOW)
    assert not result.days.empty
    assert set(result.findings["rule"]) <= {"no_sync", "disconnected", "low_completeness"}
