"""``stridewise days``: what the rules see, day by day (principle 8: not worn is
missing, never 0 steps)."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import typer
from rich.table import Table
from sqlalchemy import select

from core.clock import utcnow
from core.errors import StridewiseError
from ingest.patients import get_patient
from ingest.programme_models import ExemptDay
from rules.evaluate import assess
from stridewise.cli.common import console, open_db, parse_date
from stridewise.day_records import day_records

FIELDS = [
    "date",
    "status",
    "wear_hours",
    "steps",
    "source",
    "walking_minutes",
    "bouts",
    "threshold_spm",
    "flags",
]


def days_cmd(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    first: str = typer.Option(..., "--from", help="First local date."),
    last: str = typer.Option(..., "--to", help="Last local date (evaluated as of its end)."),
    output: str = typer.Option("table", "--format", help="table, json or csv."),
) -> None:
    """Each local day's status (valid, low-wear, missing, provisional, exempt), wear
    hours, steps and their source, walking minutes and bouts at the patient's walking
    threshold, and the flags (overdoing, implausible). A day not worn shows no steps.

    Example: stridewise days --patient P1 --from 2026-03-01 --to 2026-03-14 --format csv
    """
    if output not in ("table", "json", "csv"):
        raise StridewiseError(f"--format must be table, json or csv, not {output!r}")
    start, end = parse_date(first, "--from"), parse_date(last, "--to")
    if end < start:
        raise StridewiseError(f"--to {end} is before --from {start}")
    with open_db()() as session:
        result = assess(session, [get_patient(session, patient)], utcnow(), end, cached=True)
        exempt = set(
            session.scalars(select(ExemptDay.local_date).where(ExemptDay.patient_id == patient))
        )
    if result.days.empty:
        raise StridewiseError(f"no step data or linked account for {patient} yet")
    days = result.days
    days = days[
        (days["local_date"] >= pd.Timestamp(start)) & (days["local_date"] <= pd.Timestamp(end))
    ]
    records = day_records(days, int(result.params.at[patient, "cadence_threshold"]), exempt)
    if output == "json":
        typer.echo(json.dumps({"patient": patient, "days": records}, indent=2))
    elif output == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, FIELDS, lineterminator="\n")
        writer.writeheader()
        for r in records:
            writer.writerow({**r, "flags": " ".join(r["flags"])})
        typer.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(*(f.replace("_", " ") for f in FIELDS))
        for r in records:
            table.add_row(
                *(
                    "" if r[f] is None else " ".join(r[f]) if f == "flags" else str(r[f])
                    for f in FIELDS
                )
            )
        console.print(table)
        if records and records[0]["date"] > start.isoformat():
            console.print(f"(the rules' days start on {records[0]['date']})")
