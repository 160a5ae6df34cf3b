"""``stridewise link garmin``: link a patient's Garmin Connect account by logging in
once (password hidden, MFA code if Garmin emails one); only the tokens are kept."""

from __future__ import annotations

import typer

from adapters.garmin.login import link_garmin
from ingest.cli.common import console, open_db
from ingest.cli.link_cmd import link_app
from ingest.settings import get_settings


@link_app.command("garmin")
def link_garmin_cmd(
    patient: str = typer.Option(..., "--patient", help="Patient id to link."),
    email: str = typer.Option(..., "--email", prompt="Garmin email", help="Garmin account email."),
) -> None:
    """Link a patient's Garmin Connect account: asks for the password (hidden) and the
    MFA code Garmin emails, then stores only the tokens (encrypted), never the password.

    Example: stridewise link garmin --patient P1 --email pat@example.org
    """
    password = typer.prompt("Garmin password", hide_input=True)
    link_garmin(
        open_db(),
        get_settings(),
        patient,
        email,
        password,
        mfa_code=lambda: typer.prompt("MFA code from Garmin's email"),
    )
    console.print(f"linked patient {patient} to Garmin Connect")
