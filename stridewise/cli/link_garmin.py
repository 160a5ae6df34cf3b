"""``stridewise link garmin``: link a patient's Garmin Connect account by logging in
once (password hidden, MFA code if Garmin emails one); only the tokens are kept."""

from __future__ import annotations

import typer

from stridewise.cli.common import console, current_app
from stridewise.cli.link_cmd import link_app
from stridewise.linking.garmin import link_garmin
from stridewise.providers import garmin_config


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
    app = current_app()
    link_garmin(
        app.factory,
        app.cipher,
        garmin_config(app.settings),
        patient,
        email,
        password,
        mfa_code=lambda: typer.prompt("MFA code from Garmin's email"),
    )
    console.print(f"linked patient {patient} to Garmin Connect")
