"""``stridewise therapist`` and ``stridewise patient``."""

from __future__ import annotations

import typer
from rich.table import Table
from sqlalchemy import func, select

from ingest.db import transaction
from ingest.models import DailyTotalRow, LinkedAccount, StepIntervalRow
from ingest.patients import (
    add_patient,
    add_therapist,
    get_patient,
    list_patients,
    set_patient_email,
    set_therapist_timezone,
)
from stridewise.cli.common import app_for, console, open_db

therapist_app = app_for("Therapists, who read adherence reports.")
patient_app = app_for("Patients, whose walking is monitored.")


@therapist_app.command("add")
def therapist_add(
    therapist_id: str = typer.Argument(..., help="Your identifier for the therapist."),
    name: str = typer.Option(..., "--name", help="Full name."),
    email: str = typer.Option(..., "--email", help="Where reports go."),
    timezone: str = typer.Option(
        None, "--timezone", help="IANA zone of their week (the Monday 08:00 report)."
    ),
) -> None:
    """Add a therapist. Without --timezone, their patients' most common zone is used.

    Example: stridewise therapist add T1 --name "Ana Silva" --email ana@clinic.example
    --timezone Europe/Lisbon
    """
    with transaction(open_db()) as session:
        add_therapist(session, therapist_id, name, email, timezone)
    console.print(f"added therapist {therapist_id}")


@therapist_app.command("set")
def therapist_set(
    therapist_id: str = typer.Argument(..., help="The therapist's id."),
    timezone: str = typer.Option(
        ..., "--timezone", help="IANA zone; an empty string goes back to their patients' zone."
    ),
) -> None:
    """Change the time zone a therapist's Monday report follows.

    Example: stridewise therapist set T1 --timezone Europe/Lisbon
    """
    with transaction(open_db()) as session:
        set_therapist_timezone(session, therapist_id, timezone or None)
    shown = timezone or "their patients' most common zone"
    console.print(f"{therapist_id}: reports follow {shown}")


@patient_app.command("add")
def patient_add(
    patient_id: str = typer.Argument(..., help="Your identifier for the patient."),
    name: str = typer.Option(..., "--name", help="Full name."),
    timezone: str = typer.Option(None, "--timezone", help="IANA zone, e.g. Europe/London."),
    therapist: str = typer.Option(..., "--therapist", help="The treating therapist's id."),
    programme: str = typer.Option("walkback", "--programme", help="Programme definition."),
    email: str = typer.Option(None, "--email", help="Where the patient's messages go."),
) -> None:
    """Add a patient under a therapist.

    Example: stridewise patient add P1 --name "Sam Lee" --timezone Europe/London --therapist T1
    """
    with transaction(open_db()) as session:
        add_patient(session, patient_id, name, timezone, therapist, programme, email)
    console.print(f"added patient {patient_id}")


@patient_app.command("set")
def patient_set(
    patient_id: str = typer.Argument(..., help="The patient's id."),
    email: str = typer.Option(..., "--email", help="New address; an empty string clears it."),
) -> None:
    """Change a patient's email address (their weekly summary and daily messages go there).

    Example: stridewise patient set P1 --email sam@example.org
    """
    with transaction(open_db()) as session:
        set_patient_email(session, patient_id, email or None)
    console.print(f"{patient_id}: email {'set' if email else 'cleared'}")


@patient_app.command("list")
def patient_list(
    therapist: str = typer.Option(None, "--therapist", help="Only this therapist's patients."),
) -> None:
    """List patients with their linked accounts.

    Example: stridewise patient list --therapist T1
    """
    with open_db()() as session:
        patients = list_patients(session, therapist)
        table = Table("id", "name", "time zone", "therapist", "programme", "accounts")
        for p in patients:
            accounts = ", ".join(f"{a.provider} ({a.status})" for a in p.accounts) or "-"
            table.add_row(p.id, p.name, p.timezone or "-", p.therapist_id, p.programme, accounts)
    console.print(table)


@patient_app.command("show")
def patient_show(patient_id: str = typer.Argument(..., help="The patient's id.")) -> None:
    """Show one patient: settings, linked accounts and how much data is stored.

    Example: stridewise patient show P1
    """
    with open_db()() as session:
        p = get_patient(session, patient_id)
        console.print(f"[bold]{p.id}[/bold] {p.name}")
        console.print(f"time zone: {p.timezone or 'not set'}   therapist: {p.therapist_id}")
        console.print(f"programme: {p.programme}   overrides: {p.overrides or 'none'}")
        intervals = session.execute(
            select(
                func.count(),
                func.min(StepIntervalRow.local_date),
                func.max(StepIntervalRow.local_date),
            ).where(StepIntervalRow.patient_id == patient_id)
        ).one()
        totals = session.scalar(
            select(func.count())
            .select_from(DailyTotalRow)
            .where(DailyTotalRow.patient_id == patient_id)
        )
        console.print(
            f"intervals: {intervals[0]} ({intervals[1] or '-'} to {intervals[2] or '-'})"
            f"   provider daily totals: {totals}"
        )
        table = Table("provider", "status", "last success", "next due", "failures")
        for a in session.scalars(select(LinkedAccount).where(LinkedAccount.patient_id == p.id)):
            table.add_row(
                a.provider,
                a.status,
                str(a.last_success_at or "-"),
                str(a.next_sync_due or "-"),
                str(a.consecutive_failures),
            )
        console.print(table)
