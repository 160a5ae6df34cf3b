"""``stridewise deliver``, ``outbox list`` and ``webhook add``: the outbox by hand."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from rich.table import Table

from core.errors import StridewiseError
from delivery.outbox import list_messages
from delivery.webhooks import add_endpoint
from delivery.worker import deliver_once
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.delivery_models import OUTBOX_STATUSES
from ingest.sync.runner import worker_name
from stridewise.cli.common import app_for, console, open_db, settings
from stridewise.jobs import delivery_config

outbox_app = app_for("The outbox: messages waiting, sent or dead.")
webhook_app = app_for("Webhook endpoints that receive a therapist's signed events.")


def parse_now(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        at = datetime.fromisoformat(value)
    except ValueError as err:
        raise StridewiseError(f"--now: {value!r} is not a time like 2026-11-23T08:00Z") from err
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def deliver_cmd(
    now: str = typer.Option(None, "--now", help="Act as if it were this instant (UTC default)."),
) -> None:
    """Send everything due in the outbox once, in the foreground, and say what happened.

    Example: stridewise deliver --now 2026-11-23T08:00Z
    """
    factory = open_db()
    report = deliver_once(
        factory, delivery_config(settings(), factory), worker_name(), parse_now(now)
    )
    counts = ", ".join(f"{n} {what}" for what, n in sorted(report.outcomes.items()))
    console.print(f"outbox: {counts or 'nothing due'}")


@outbox_app.command("list")
def outbox_list(
    status: str = typer.Option(None, "--status", help=f"One of {', '.join(OUTBOX_STATUSES)}."),
    limit: int = typer.Option(200, "--limit", help="Newest rows shown."),
) -> None:
    """List outbox rows, newest first.

    Example: stridewise outbox list --status dead
    """
    if status and status not in OUTBOX_STATUSES:
        raise StridewiseError(f"--status must be one of {', '.join(OUTBOX_STATUSES)}")
    table = Table("id", "kind", "channel", "to", "status", "attempts", "next attempt", "sent",
                  "last error")  # fmt: skip
    with open_db()() as session:
        for m in list_messages(session, status, limit):
            table.add_row(str(m.id), m.kind, m.channel, m.recipient, m.status, str(m.attempts),
                          _when(m.next_attempt_at), _when(m.sent_at),
                          m.last_error or "")  # fmt: skip
    console.print(table)


def _when(at: datetime | None) -> str:
    return at.strftime("%Y-%m-%d %H:%M") if at else "-"


@webhook_app.command("add")
def webhook_add(
    therapist: str = typer.Option(..., "--therapist", help="The therapist whose events it gets."),
    url: str = typer.Option(..., "--url", help="The receiver's https URL."),
) -> None:
    """Add a webhook endpoint; prints its signing secret once (keep it, it is not shown again).

    Example: stridewise webhook add --therapist T1 --url https://ehr.example/hooks/stridewise
    """
    cipher = Cipher(settings().secret_key)
    with transaction(open_db()) as session:
        endpoint, secret = add_endpoint(session, cipher, therapist, url)
    console.print(f"added webhook {endpoint.id} for {therapist}")
    console.print(f"signing secret (shown once): {secret}", highlight=False, soft_wrap=True)
