"""``stridewise link``: connect patients to their wearable accounts.

Providers add their own consent command to :data:`link_app` from their own
module (``@link_app.command("garmin")``); ``link import`` takes any provider's
token file through :func:`stridewise.providers.token_file_importer`.
"""

from __future__ import annotations

import webbrowser
from pathlib import Path

import typer
from rich.table import Table

from core.errors import StridewiseError
from ingest.db import transaction
from ingest.linking import link_account, list_accounts, unlink_account
from stridewise.cli.common import app_for, console, current_app, err_console, open_db
from stridewise.linking.google import link_google_health
from stridewise.providers import google_config, token_file_importer

link_app = app_for("Link patients to wearable accounts (tokens are stored encrypted).")


def _consent_opener(open_browser: bool):
    def show(url: str) -> None:
        err_console.print(
            "Open this address, sign in with the patient's Google account and allow access:"
        )
        print(url, flush=True)
        if open_browser:
            webbrowser.open(url)

    return show


@link_app.command("google-health")
def link_google(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    port: int = typer.Option(
        None, "--port", help="Loopback port for Google's redirect (default: settings, 0 = any)."
    ),
    open_browser: bool = typer.Option(
        True, "--open/--no-open", help="Also open the address in this machine's browser."
    ),
) -> None:
    """Link a Fitbit / Pixel Watch account through Google's consent (OAuth with PKCE).

    Prints the consent address and waits for Google's redirect on a loopback port; then
    stores the account's healthUserId and sets the patient's time zone if it is unset.

    Example: stridewise link google-health --patient P1
    """
    app = current_app()
    linked = link_google_health(
        app.factory,
        app.cipher,
        google_config(app.settings),
        patient,
        _consent_opener(open_browser),
        port=app.settings.google_redirect_port if port is None else port,
    )
    console.print(
        f"linked {patient} to Google Health user {linked.health_user_id} "
        f"(time zone {linked.timezone or 'not set'})"
    )


@link_app.command("import")
def link_import(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    provider: str = typer.Option(..., "--provider", help="google-health or garmin."),
    token_file: Path = typer.Option(..., "--token-file", help="The exported token file."),
) -> None:
    """Link using an existing token file (e.g. google-auth's authorized-user JSON).

    Example: stridewise link import --patient P1 --provider google-health --token-file token.json
    """
    cipher = current_app().cipher
    try:
        text = token_file.read_text(encoding="utf-8")
    except OSError as err:
        raise StridewiseError(f"cannot read {token_file}: {err.strerror}") from err
    credentials = token_file_importer(provider)(text)
    with transaction(open_db()) as session:
        link_account(session, cipher, patient, provider, credentials)
    console.print(f"linked {patient} to {provider} from {token_file.name}")


@link_app.command("list")
def link_list(
    patient: str = typer.Option(None, "--patient", help="Only this patient's links."),
) -> None:
    """List linked accounts and their state (never their tokens).

    Example: stridewise link list --patient P1
    """
    with open_db()() as session:
        accounts = list_accounts(session, patient)
        table = Table("patient", "provider", "account", "status", "synced through", "last error")
        for account in accounts:
            table.add_row(
                account.patient_id,
                account.provider,
                account.external_user_id or "",
                account.status,
                str(account.synced_through or ""),
                account.last_error_kind or "",
            )
    console.print(table if accounts else "no linked accounts")


@link_app.command("unlink")
def link_unlink(
    patient: str = typer.Option(..., "--patient", help="The patient's id."),
    provider: str = typer.Option(..., "--provider", help="google-health or garmin."),
) -> None:
    """Forget a link and its tokens (the steps already stored stay).

    Example: stridewise link unlink --patient P1 --provider google-health
    """
    with transaction(open_db()) as session:
        unlink_account(session, patient, provider)
    console.print(f"unlinked {patient} from {provider}")
