"""``stridewise db``: schema management."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from ingest.db import make_engine, upgrade
from stridewise.cli.common import app_for, console, settings

app = app_for("Database schema.")


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Create or migrate the schema to the latest version (safe to repeat).

    Example: stridewise db upgrade
    """
    url = settings().database_url
    upgrade(make_engine(url))
    shown = make_url(url).render_as_string(hide_password=True)
    console.print(f"schema is up to date ({shown})")
