"""``stridewise evaluate``, ``alerts``, ``pain``, ``exempt`` and ``plan``: the rules area."""

from __future__ import annotations

import json
from datetime import date

import typer
from rich.table import Table
from sqlalchemy import select

from core.clock import local_today, utcnow
from core.errors import StridewiseError
from ingest.db import transaction
from ingest.models import Patient
from ingest.patients import get_patient
from ingest.programme_models import EXEMPT_REASONS
from rules.alerts import alert_record, list_alerts
from rules.enrolment import programme_start, start_programme
from rules.evaluate import assess, evaluate
from rules.messages import render
from rules.programme import week_summary
from rules.reports import add_exempt, add_pain, parse_instant, set_level
from stridewise.cli.common import app_for, console, open_db, parse_date

alerts_app = app_for("Adherence alerts raised by the rules (stored for delivery).")
pain_app = app_for("Pain reports (0-10), which drive holds and flare alerts.")
exempt_app = app_for("Exempt days (illness, travel, weather): under-target and inactivity pause.")
plan_app = app_for("The walking programme, week by week.")


def evaluate_cmd(
    day: str = typer.Option(None, "--date", help="Evaluate as of the end of this local date."),
    patient: str = typer.Option(None, "--patient", help="Only this patient."),
) -> None:
    """Run the rules (idempotent) and show new, still-open and withdrawn alerts.

    Example: stridewise evaluate --patient P1
    """
    today = parse_date(day, "--date") if day else None
    result = evaluate(open_db(), today=today, patient_id=patient)
    changes = result.changes
    as_of = today or utcnow().date()
    table = Table("change", "patient", "rule", "period", "audience", "message")
    for label, alerts in (
        ("new", changes.new),
        ("reopened", changes.reopened),
        ("open", changes.still_open),
        ("closed", changes.closed),
        ("withdrawn", changes.withdrawn),
    ):
        for a in alerts:
            text = render(a, as_of).text + (" [muted: over the weekly budget]" if a.muted else "")
            if label == "withdrawn":
                text += f" [{a.withdrawn_reason}]"
            table.add_row(label, a.patient_id, a.rule, a.period, a.audience, text)
    console.print(table)
    console.print(
        f"{result.patients - len(result.failures)} patient(s) evaluated: {len(changes.new)} new, "
        f"{len(changes.still_open)} still open, {len(changes.closed)} closed, "
        f"{len(changes.withdrawn)} withdrawn"
    )
    if result.failures:
        for pid, reason in result.failures.items():
            console.print(f"{pid}: {reason}", markup=False)
        console.print(f"{len(result.failures)} failed: {', '.join(result.failures)}", markup=False)
        raise typer.Exit(1)


@alerts_app.command("list")
def alerts_list(
    patient: str = typer.Option(None, "--patient", help="Only this patient."),
    output: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """List alerts, newest last.

    Example: stridewise alerts list --patient P1 --format json
    """
    if output not in ("table", "json"):
        raise StridewiseError(f"--format must be table or json, not {output!r}")
    with open_db()() as session:
        if patient is not None:
            get_patient(session, patient)
        zones = dict(session.execute(select(Patient.id, Patient.timezone)).all())
        now = utcnow()
        records = [
            alert_record(a, local_today(now, zones.get(a.patient_id)))
            for a in list_alerts(session, patient)
        ]
    if output == "json":
        typer.echo(json.dumps(records, indent=2))
        return
    table = Table("patient", "rule", "period", "audience", "severity", "status", "message")
    # muted: held back from the patient by the weekly alert budget
    for r in records:
        table.add_row(
            r["patient"],
            r["rule"],
            r["period"],
            r["audience"],
            r["severity"],
            r["status"] + (" (muted)" if r["muted"] else ""),
            r["message"],
        )
    console.print(table)


@pain_app.command("add")
def pain_add(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    score: int = typer.Option(..., "--score", help="Pain 0 (none) to 10 (worst)."),
    note: str = typer.Option(None, "--note", help="Free text."),
    at: str = typer.Option(
        None, "--at", help="When (ISO time; local to the patient if no offset)."
    ),
) -> None:
    """Record a pain report.

    Example: stridewise pain add --patient P1 --score 4 --at 2026-03-08T19:30
    """
    with transaction(open_db()) as session:
        report = add_pain(session, patient, score, note, parse_instant(at) if at else None)
    console.print(f"recorded pain {report.score}/10 for {patient}")


@exempt_app.command("add")
def exempt_add(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    day: str = typer.Option(..., "--date", help="The local date to exempt."),
    reason: str = typer.Option(..., "--reason", help="|".join(EXEMPT_REASONS)),
    note: str = typer.Option(None, "--note", help="Free text."),
) -> None:
    """Mark a day as exempt from the under-target and inactivity rules.

    Example: stridewise exempt add --patient P1 --date 2026-03-08 --reason illness
    """
    with transaction(open_db()) as session:
        add_exempt(session, patient, parse_date(day, "--date"), reason, note)
    console.print(f"{day} is exempt for {patient} ({reason})")


def _current_plan(session, patient_id: str, today: date | None = None):
    patient = get_patient(session, patient_id)
    if programme_start(session, patient_id) is None:
        raise StridewiseError(
            f"{patient_id} is not enrolled: stridewise plan start --patient {patient_id} --date D"
        )
    result = assess(session, [patient], utcnow(), today, cached=True)
    if result.plan.empty and result.days.empty:
        raise StridewiseError(f"no step data or linked account for {patient_id} yet")
    return result


@plan_app.command("start")
def plan_start(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    day: str = typer.Option(..., "--date", help="The local date the programme starts."),
) -> None:
    """Start (or restart) a patient's programme on a date. Days before it are history:
    the baseline week when they cover it, never judged.

    Example: stridewise plan start --patient P1 --date 2026-03-09
    """
    start = parse_date(day, "--date")
    with transaction(open_db()) as session:
        start_programme(session, patient, start)
    console.print(f"{patient}: programme starts {start}")


@plan_app.command("show")
def plan_show(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    day: str = typer.Option(
        None, "--date", help="As of the end of this local date (default: today)."
    ),
) -> None:
    """Print the plan week by week, up to the date, with what was done.

    Example: stridewise plan show --patient P1 --date 2026-04-30
    """
    today = parse_date(day, "--date") if day else None
    with open_db()() as session:
        result = _current_plan(session, patient, today)
        start = programme_start(session, patient)
    base = result.baseline.loc[patient]
    threshold = int(result.params.at[patient, "cadence_threshold"])
    console.print(f"programme start: {start}; walking measured at {threshold} steps/min")
    if base["usable"]:
        console.print(
            f"baseline: {base['valid_days']} valid days, {base['steps']:,.0f} steps/day, "
            f"{base['walking_minutes']:.0f} walking min/day; start {base['start_walks']} walks "
            f"x {base['start_minutes']} min"
        )
    else:
        console.print(
            f"baseline not usable ({base['valid_days']} valid days, {base['weekend_days']} at a "
            f"weekend): start {base['start_walks']} walks x {base['start_minutes']} min"
        )
    table = Table(
        "week", "from", "level", "planned", "walks done", "walking min", "valid days", "how set"
    )
    for row in week_summary(result.days, result.plan).itertuples(index=False):
        table.add_row(
            str(row.week + 1),
            str(row.week_start.date()),
            str(row.level),
            f"{row.walks_planned} x {row.minutes_planned} min",
            str(int(row.walks_done)),
            str(int(row.walking_minutes)),
            f"{int(row.valid_days)}/{int(row.days)}",
            row.phase,
        )
    console.print(table)


@plan_app.command("set-level")
def plan_set_level(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    level: int = typer.Option(..., "--level", help="Programme level (0 = the start)."),
    week: str = typer.Option(
        None, "--week", help="Start date of the programme week (default: the current one)."
    ),
    note: str = typer.Option(None, "--note", help="Why."),
) -> None:
    """Set a patient's programme level by hand; the programme continues from it.

    Example: stridewise plan set-level --patient P1 --level 3 --note "back from holiday"
    """
    with transaction(open_db()) as session:
        if week is None:
            plan = _current_plan(session, patient).plan
            if plan.empty:
                raise StridewiseError(f"{patient} is still in the baseline week")
            start: date = plan["week_start"].iloc[-1].date()
        else:
            start = parse_date(week, "--week")
            weeks = {d.date() for d in _current_plan(session, patient).plan["week_start"]}
            if start not in weeks:
                raise StridewiseError(f"{start} is not the first day of a programme week")
        set_level(session, patient, start, level, note)
    console.print(f"{patient}: level {level} from the week of {start}")
