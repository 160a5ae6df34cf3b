"""``stridewise secret``: the keys that encrypt provider credentials at rest."""

from __future__ import annotations

from sqlalchemy import select

from ingest.crypto import generate_key
from ingest.db import transaction
from ingest.models import LinkedAccount
from stridewise.cli.common import app_for, console, current_app, open_db

app = app_for("Encryption keys for stored provider credentials.")


@app.command("generate")
def generate() -> None:
    """Print a new key for STRIDEWISE_SECRET_KEY.

    To rotate, put the new key first and keep the old one after it
    (STRIDEWISE_SECRET_KEY=new,old), run 'stridewise secret rotate', then drop the old key.

    Example: stridewise secret generate
    """
    print(generate_key())


@app.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored credential under the first key of STRIDEWISE_SECRET_KEY.

    Example: STRIDEWISE_SECRET_KEY=NEW,OLD stridewise secret rotate
    """
    cipher = current_app().cipher
    with transaction(open_db()) as session:
        accounts = session.scalars(select(LinkedAccount)).all()
        for account in accounts:
            account.credentials = cipher.rotate(account.credentials)
    console.print(f"re-encrypted the credentials of {len(accounts)} linked account(s)")
