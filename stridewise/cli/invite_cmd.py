"""``stridewise patient invite`` / ``invitations`` / ``uninvite``: one-time links a
patient opens on their phone to link a wearable."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.table import Table
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import transaction
from stridewise.cli.common import console, open_db, settings
from stridewise.cli.people import patient_app
from stridewise.portal.invitations import (
    create_invitation,
    invitation_state,
    invitation_url,
    list_invitations,
    revoke_invitation,
)
from stridewise.portal.qr import save_qr, terminal_qr
from stridewise.settings import Settings

# What ``stridewise demo`` prints after its invitation: how to open it in a browser.
BROWSER_STEPS = """To link the sandboxes' accounts from a browser with the invitation above:
  1. in another terminal: python -m stridewise sandbox   (keep it running; it prints
     STRIDEWISE_* settings and the Garmin demo login: export those settings below too)
  2. export STRIDEWISE_DATABASE_URL=sqlite:///{database} STRIDEWISE_SECRET_KEY={key}
     python -m stridewise serve
  3. open the link (or scan the QR code): Google consents at once in the sandbox;
     Garmin takes the sandbox's demo email, password and MFA code."""


@patient_app.command("invite")
def patient_invite(
    patient_id: str = typer.Argument(..., help="The patient's id."),
    qr_file: Path = typer.Option(
        None, "--qr-file", help="Where to write the QR code (.png or .svg).", show_default=False
    ),
    relink: str = typer.Option(
        None, "--relink", help="Relink this provider's account (google-health or garmin)."
    ),
    created_by: str = typer.Option(None, "--by", help="The therapist inviting (for the list)."),
) -> None:
    """Make a one-time invitation link (the URL alone on the first line), show it as a
    QR code, and save the QR code as an image (default invitation-<patient>.png).

    Example: stridewise patient invite P1 --qr-file /tmp/p1.svg
    """
    path = qr_file or Path(f"invitation-{patient_id}.png")
    print_invitation(open_db(), settings(), patient_id, path, created_by, relink)


def print_invitation(
    factory: sessionmaker[Session],
    config: Settings,
    patient_id: str,
    qr_file: Path,
    created_by: str | None = None,
    relink: str | None = None,
) -> str:
    """Make an invitation; print its URL alone on a line, then its QR code; save the image."""
    with transaction(factory) as session:
        made = create_invitation(session, patient_id, config.invitation_days, created_by, relink)
    url = invitation_url(config.public_url, made.token, relink=relink is not None)
    sys.stdout.write(url + "\n")
    sys.stdout.write(terminal_qr(url))
    sys.stdout.flush()
    save_qr(url, qr_file)
    console.print(
        f"invitation {made.id} for {patient_id}, one use, expires "
        f"{made.expires_at:%Y-%m-%d %H:%M} UTC; QR code saved to {qr_file}",
        highlight=False,
    )
    return url


@patient_app.command("invitations")
def patient_invitations(patient_id: str = typer.Argument(..., help="The patient's id.")) -> None:
    """List a patient's invitations and whether each is still open.

    Example: stridewise patient invitations P1
    """
    with open_db()() as session:
        table = Table("id", "state", "relink", "by", "created", "expires")
        for row in list_invitations(session, patient_id):
            table.add_row(
                str(row.id),
                invitation_state(row),
                row.provider or "-",
                row.created_by or "-",
                f"{row.created_at:%Y-%m-%d %H:%M}",
                f"{row.expires_at:%Y-%m-%d %H:%M}",
            )
    console.print(table)


@patient_app.command("uninvite")
def patient_uninvite(invitation_id: int = typer.Argument(..., help="The invitation's id.")) -> None:
    """Revoke an invitation that has not been used: its link opens nothing any more.

    Example: stridewise patient uninvite 12
    """
    with transaction(open_db()) as session:
        revoke_invitation(session, invitation_id)
    console.print(f"invitation {invitation_id} revoked")
