"""What every command shares: the console, the database, one-line errors."""

from __future__ import annotations

from datetime import date

import typer
from rich.console import Console
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import make_engine, session_factory
from ingest.errors import StridewiseError
from ingest.settings import get_settings

console = Console()
err_console = Console(stderr=True)


def open_db() -> sessionmaker[Session]:
    return session_factory(make_engine(get_settings().database_url))


def parse_date(value: str, option: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as err:
        raise StridewiseError(f"{option}: {value!r} is not a date like 2026-03-08") from err


def app_for(help_text: str) -> typer.Typer:
    return typer.Typer(help=help_text, no_args_is_help=True, rich_markup_mode="rich")
