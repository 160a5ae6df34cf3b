"""``stridewise therapist password`` and ``stridewise api-token``: therapists' access
to the web app and the REST API."""

from __future__ import annotations

import sys

import typer
from rich.table import Table
from sqlalchemy import select

from core.errors import StridewiseError
from ingest.access_models import ApiToken
from ingest.db import transaction
from stridewise.cli.common import app_for, console, open_db
from stridewise.cli.people import therapist_app
from stridewise.web.accounts import create_api_token, revoke_api_token, set_password

api_token_app = app_for("Bearer tokens for the REST API, one therapist each.")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    first = typer.prompt("New password", hide_input=True)
    if typer.prompt("Repeat it", hide_input=True) != first:
        raise StridewiseError("the two passwords differ; nothing was changed")
    return first


@therapist_app.command("password")
def therapist_password(
    therapist_id: str = typer.Argument(..., help="The therapist's id."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from the first line of stdin."
    ),
) -> None:
    """Set a therapist's sign-in password (asked twice, hidden); signs them out everywhere.

    Example: stridewise therapist password T1
    Example: printf '%s\\n' "$PASSWORD" | stridewise therapist password T1 --password-stdin
    """
    password = _read_password(password_stdin)
    with transaction(open_db()) as session:
        set_password(session, therapist_id, password)
    console.print(f"password set for {therapist_id}")


@api_token_app.command("create")
def api_token_create(
    therapist: str = typer.Option(..., "--therapist", help="Whose patients the token reads."),
    name: str = typer.Option("api", "--name", help="What the token is for."),
) -> None:
    """Create an API token and print it once (only its digest is kept).

    Example: stridewise api-token create --therapist T1 --name "clinic EHR"
    """
    with transaction(open_db()) as session:
        secret, row = create_api_token(session, therapist, name)
    console.print(f"token {row.id} for {therapist} ({name}); shown once, store it now:")
    print(secret)


@api_token_app.command("list")
def api_token_list(
    therapist: str = typer.Option(None, "--therapist", help="Only this therapist's tokens."),
) -> None:
    """List API tokens (never their secrets).

    Example: stridewise api-token list --therapist T1
    """
    query = select(ApiToken).order_by(ApiToken.id)
    if therapist:
        query = query.where(ApiToken.therapist_id == therapist)
    table = Table("id", "therapist", "name", "created", "last used", "revoked")
    with open_db()() as session:
        for t in session.scalars(query):
            table.add_row(str(t.id), t.therapist_id, t.name, f"{t.created_at:%Y-%m-%d %H:%M}",
                          f"{t.last_used_at:%Y-%m-%d %H:%M}" if t.last_used_at else "-",
                          f"{t.revoked_at:%Y-%m-%d %H:%M}" if t.revoked_at else "")  # fmt: skip
    console.print(table)


@api_token_app.command("revoke")
def api_token_revoke(
    token_id: int = typer.Argument(..., help="The token's id (see list)."),
) -> None:
    """Revoke an API token at once.

    Example: stridewise api-token revoke 3
    """
    with transaction(open_db()) as session:
        row = revoke_api_token(session, token_id)
    console.print(f"token {token_id} ({row.name}, {row.therapist_id}) revoked")
