"""What every command shares: the console, the database, one-line errors."""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import date
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from core.errors import StridewiseError

if TYPE_CHECKING:  # only for annotations: keeps `stridewise --help` from loading them
    from rich.progress import Progress, ProgressColumn
    from sqlalchemy.orm import Session, sessionmaker

    from stridewise.settings import Settings
    from stridewise.wiring import App

# Piped output (CI logs, files) gets room for the wide tables instead of Rich's 80.
console = Console(width=None if sys.stdout.isatty() or "COLUMNS" in os.environ else 120)
err_console = Console(stderr=True, soft_wrap=True)


_running: list[App] = []


def use_app(app: App) -> None:
    """Called by the root command: the :class:`App` every subcommand works with."""
    _running[:] = [app]


def current_app() -> App:
    """The :class:`App` the root command built (or a test handed in as ``obj``)."""
    if not _running:
        raise RuntimeError("no App: commands run under the root 'stridewise' callback")
    return _running[0]


def settings() -> Settings:
    return current_app().settings


def open_db() -> sessionmaker[Session]:
    """The configured database, refused with a hint when its schema is not current."""
    return current_app().factory


def require_sandbox() -> None:
    """The demo and the sandboxes need the provider fakes, which ship in no wheel."""
    if importlib.util.find_spec("sandbox") is None:
        raise StridewiseError(
            "the provider sandboxes (sandbox/) ship only with the source: run "
            "'python -m stridewise ...' from a checkout of stridewise"
        )


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
    from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(TextColumn(label), BarColumn(), counter, TimeRemainingColumn(),
                    console=err_console, transient=True)  # fmt: skip


def list_rejections(rejected: list[tuple[str, str]]) -> None:
    """List what an import refused (where, why), the first few of them."""
    for where, reason in rejected[:SHOWN_REJECTIONS]:
        err_console.print(f"  {where}: {reason}", highlight=False)
    if len(rejected) > SHOWN_REJECTIONS:
        err_console.print(f"  ... and {len(rejected) - SHOWN_REJECTIONS} more")


def show_rejections(rejected: list[tuple[str, str]]) -> None:
    """List what an import refused, then exit 1 if anything was."""
    list_rejections(rejected)
    if rejected:
        raise typer.Exit(1)
