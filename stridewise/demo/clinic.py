"""The demo: a small clinic built from nothing, so a newcomer sees stridewise work
end to end on the embedded default (SQLite) with no account anywhere: CSV imports,
a Fitbit and a Garmin patient linked and synced through the real adapters against
the loopback sandboxes, and the rules' five patient stories."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
from rich.console import Console
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from core.clock import local_today
from core.schema import StepBatch, StepInterval
from ingest import dayview
from ingest.crypto import generate_key
from ingest.db import make_engine, session_factory, transaction, upgrade
from ingest.models import Patient
from ingest.patients import add_patient, add_therapist
from ingest.store import write_batch
from sandbox import garmin
from sandbox.serve import serve_in_thread
from sandbox.walker import Walker
from stridewise.cli.sync_cmd import run_and_show_cycle
from stridewise.demo.garmin import DEMO_ZONE as GARMIN_DEMO_ZONE
from stridewise.demo.garmin import demo_sandbox
from stridewise.demo.garmin import link_demo_patient as link_garmin
from stridewise.demo.google import link_demo_patient as link_google
from stridewise.demo.google import running_sandbox
from stridewise.settings import Settings, with_overrides

THERAPIST = ("demo-therapist", "Ana Silva", "ana.silva@clinic.example")
# (id, name, zone): patients whose steps arrive as CSV-style intervals.
CSV_PATIENTS = [
    ("demo-csv-oslo", "Ola Nordmann", "Europe/Oslo"),
    ("demo-csv-ny", "Sam Lee", "America/New_York"),
]
# Linked to the sandboxes. The Fitbit patient's zone is left unset: linking takes it
# from the user's Google Health settings.
PROVIDER_PATIENTS = [
    ("demo-fitbit", "Fay Bright", None),
    ("demo-garmin", "Gary Min", GARMIN_DEMO_ZONE),
]
SHOWN_DAYS = 14
# The demo therapist signs in to `stridewise serve` with this (a demo only, never a real one).
DEMO_PASSWORD = "walk-safely-demo"


def open_for_therapists(factory: sessionmaker[Session], console: Console, url: str) -> None:
    """The demo therapist's password and fresh caseload figures, then how to sign in."""
    from stridewise.web.accounts import set_password
    from stridewise.web.summaries import refresh_stale

    with transaction(factory) as session:
        set_password(session, THERAPIST[0], DEMO_PASSWORD)
    refresh_stale(factory)
    console.print(f"caseload: {url.rstrip('/')}/  sign in as {THERAPIST[2]} / {DEMO_PASSWORD}",
                  highlight=False)  # fmt: skip


def fresh_database(path: Path) -> sessionmaker[Session]:
    """A new demo database file, so every run tells the same story."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    return session_factory(engine)


def demo_secret_key(path: Path) -> str:
    """The demo's own encryption key, kept beside its database (never for production)."""
    if not path.exists():
        path.write_text(generate_key())
        path.chmod(0o600)
    return path.read_text().strip()


def seed_clinic(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        add_therapist(session, *THERAPIST)
        session.flush()
        for patient_id, name, zone in CSV_PATIENTS + PROVIDER_PATIENTS:
            add_patient(session, patient_id, name, zone, THERAPIST[0])


def seed_csv_steps(factory: sessionmaker[Session], now: datetime, days: int = SHOWN_DAYS) -> int:
    """Walker minutes up to ``now`` for the CSV patients, through the write path imports use."""
    walker = Walker(seed=2026)
    batch = StepBatch()
    for patient_id, _name, zone in CSV_PATIENTS:
        today = now.astimezone(ZoneInfo(zone)).date()
        for back in range(days):
            minutes = walker.day(patient_id, today - timedelta(days=back), zone)
            batch.intervals.extend(
                StepInterval(
                    patient_id, "csv", "demo phone", m.start_utc, end, m.utc_offset_s, m.steps
                )
                for m in minutes
                if (end := m.start_utc + timedelta(minutes=1)) <= now
            )
    with transaction(factory) as session:
        return write_batch(session, batch).intervals_accepted


def link_and_sync(factory: sessionmaker[Session], settings: Settings, console: Console) -> None:
    """Link the provider patients through the real consent and login code against the
    sandboxes, then run one scheduler cycle (the worker's code path) over what is due."""
    garmin_sandbox = garmin.create_app(demo_sandbox(person="demo-garmin"))
    with running_sandbox() as (_, google_hosts), serve_in_thread(garmin_sandbox) as garmin_base:
        settings = with_overrides(
            settings, {**google_hosts, **garmin.sandbox_settings(garmin_base)}
        )
        linked = link_google(factory, settings, "demo-fitbit")
        console.print(
            f"linked demo-fitbit to Google Health (OAuth with PKCE; time zone from the "
            f"account: {linked.timezone})"
        )
        link_garmin(factory, settings, "demo-garmin")
        console.print("linked demo-garmin to Garmin Connect (password + MFA code; tokens only)")
        run_and_show_cycle(factory, settings, console, worker="demo", force=False)


def show_days(
    factory: sessionmaker[Session], console: Console, now: datetime, patient_ids: list[str]
) -> None:
    """Each patient's last 14 local days; today is marked "so far"."""
    with factory() as session:
        patients = [session.get(Patient, pid) for pid in patient_ids]
        days = dayview.load(session, None, (now - timedelta(days=SHOWN_DAYS + 1)).date()).days
    for patient in patients:
        today = local_today(now, patient.timezone)
        first = pd.Timestamp(today - timedelta(days=SHOWN_DAYS - 1))
        mine = days[(days["patient_id"] == patient.id) & (days["local_date"] >= first)]
        table = Table(
            "date",
            "steps",
            "source",
            "basis",
            title=f"{patient.id} ({patient.name})",
            title_justify="left",
        )
        for row in mine.itertuples():
            flag = " (so far)" if row.provisional or row.local_date.date() == today else ""
            table.add_row(
                row.local_date.date().isoformat(), f"{row.steps:,}{flag}", row.source, row.basis
            )
        if mine.empty:
            table.add_row("-", "no data", "-", "-")
        console.print(table)
