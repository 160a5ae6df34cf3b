"""``stridewise demo``: build the demo clinic and show what it holds."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import typer

from ingest import demo
from ingest.cli.common import console
from ingest.settings import get_settings


def demo_cmd(
    database: Path = typer.Option(
        Path("stridewise-demo.db"), "--database", help="SQLite file to (re)create for the demo."
    ),
) -> None:
    """Build a demo clinic from nothing (SQLite, generated data) and print each patient's
    last 14 days.

    Example: stridewise demo
    """
    os.environ.setdefault(
        "STRIDEWISE_SECRET_KEY", demo.demo_secret_key(Path(".stridewise-demo-key"))
    )
    os.environ["STRIDEWISE_DATABASE_URL"] = f"sqlite:///{database}"
    get_settings.cache_clear()
    now = datetime.now(UTC)
    factory = demo.fresh_database(database)
    demo.seed_clinic(factory)
    console.print(f"demo database: {database}")
    written = demo.seed_csv_steps(factory, now)
    console.print(f"imported {written:,} minute intervals for the CSV patients")
    demo.show_days(factory, console, now)
