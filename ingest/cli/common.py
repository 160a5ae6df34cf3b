"""What every command shares: the console, the database, one-line errors."""

from __future__ import annotations

import os
import sys
from datetime import date

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, ProgressColumn, TextColumn, TimeRemainingColumn
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import make_engine, schema_is_current, session_factory
from ingest.errors import StridewiseError
from ingest.settings import get_settings

# Piped output (CI logs, files) gets room for the wide tables instead of Rich's 80.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
err_console = Console(stderr=True, soft_wrap=True)


def open_db() -> sessionmaker[Session]:
    """The configured database, refused with a hint when its schema is not current."""
    url = get_settings().database_url
    engine = make_engine(url)
    if not schema_is_current(engine):
        shown = make_url(url).render_as_string(hide_password=True)
        raise StridewiseError(
            f"the database at {shown} is missing or behind; run 'stridewise db upgrade' first"
        )
    return session_factory(engine)


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise StridewiseError(f"{option}: {value!r} is not a date like 2026-03-08") from err


def app_for(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode="rich")


SHOWN_REJECTIONS = 20


def import_progress(label: str, counter: ProgressColumn) -> Progress:
    """The progress bar of a long import, on stderr so stdout stays clean."""
    return Progress(TextColumn(label), BarColumn(), counter, TimeRemainingColumn(),
                    console=err_console, transient=True)  # fmt: skip


def show_rejections(rejected: list[tuple[str, str]]) -> None:
    """List what an import refused (where, why), then exit 1 if anything was."""
    for where, reason in rejected[:SHOWN_REJECTIONS]:
        err_console.print(f"  {where}: {reason}", highlight=False)
    if len(rejected) > SHOWN_REJECTIONS:
        err_console.print(f"  ... and {len(rejected) - SHOWN_REJECTIONS} more")
    if rejected:
        raise typer.Exit(1)
