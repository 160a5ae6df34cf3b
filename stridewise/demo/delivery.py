"""The end of the demo: the demo therapist's weekly report written to a folder, and the
week's messages (report email, urgent alerts, patients' notes) delivered through the
real outbox to a local SMTP server (aiosmtpd) that files them in a maildir."""

from __future__ import annotations

import mailbox
import socket
from dataclasses import replace
from datetime import datetime, time
from pathlib import Path

from rich.console import Console
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from delivery.config import SmtpConfig
from delivery.queueing import queue_patient_messages, queue_urgent, queue_weekly
from delivery.worker import deliver_once
from ingest.db import transaction
from ingest.models import Patient
from reports.weeks import previous_week, week_label
from stridewise.cli.report_cmd import write_weekly
from stridewise.jobs import delivery_config
from stridewise.settings import Settings


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deliver_week(
    factory: sessionmaker[Session],
    settings: Settings,
    console: Console,
    therapist_id: str,
    now: datetime,
    out: Path,
) -> None:
    from aiosmtpd.controller import Controller
    from aiosmtpd.handlers import Mailbox

    with transaction(factory) as session:
        for patient in session.scalars(select(Patient).where(Patient.email.is_(None))):
            patient.email = f"{patient.id}@patients.example"
        ids = list(session.scalars(select(Patient.id).order_by(Patient.id)))
    week = week_label(previous_week(now.date()))
    for path in write_weekly(factory, therapist_id, week, out / "report", ["html", "pdf", "csv"]):
        console.print(f"weekly report: {path.resolve().as_uri()}")

    maildir = out / "mail"
    mailbox.Maildir(maildir, create=True)
    port = _free_port()
    controller = Controller(Mailbox(str(maildir)), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        with transaction(factory) as session:
            queue_patient_messages(session, ids, now, summary=True)
            queue_urgent(session, now)
            queue_weekly(session, now, therapist_id)
        # The demo runs at any hour: quiet hours are switched off for it.
        config = replace(
            delivery_config(settings, factory),
            smtp=SmtpConfig(host="127.0.0.1", port=port),
            quiet_start=time(0),
            quiet_end=time(0),
        )
        report = deliver_once(factory, config, "demo", now)
    finally:
        controller.stop()
    counts = ", ".join(f"{n} {what}" for what, n in sorted(report.outcomes.items()))
    console.print(f"messages: {counts or 'none due'} (quiet hours off for the demo)")
    console.print(f"mail (maildir; open with 'mutt -f {maildir}'): {maildir.resolve()}/new/")
