"""``stridewise db``: schema management."""

from __future__ import annotations

from sqlalchemy.engine import make_url

from ingest.cli.common import app_for, console
from ingest.db import make_engine, upgrade
from ingest.settings import get_settings

app = app_for("Database schema.")


@app.command("upgrade")
def upgrade_cmd() -> None:
    """Create or migrate the schema to the latest version (safe to repeat).

    Example: stridewise db upgrade
    """
    settings = get_settings()
    upgrade(make_engine(settings.database_url))
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    console.print(f"schema is up to date ({shown})")
