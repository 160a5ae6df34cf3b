"""What every command shares: the console, the database, one-line errors."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import make_engine, schema_is_current, session_factory
from ingest.errors import StridewiseError
from ingest.settings import get_settings

console = Console()
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
