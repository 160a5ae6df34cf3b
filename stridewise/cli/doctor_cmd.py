"""``stridewise doctor``: one line per check of the running configuration."""

from __future__ import annotations

import typer
from rich.markup import escape

from stridewise.cli.common import console, current_app
from stridewise.doctor import FAIL, OK, failed, run_checks

MARKS = {OK: "[green]ok  [/green]", "warn": "[yellow]warn[/yellow]", FAIL: "[red]FAIL[/red]"}


def doctor_cmd() -> None:
    """Check the configuration: keys, database, providers, OAuth, webhook, SMTP, scheduler.

    Prints one line per check (ok, warn or FAIL, with the fix) and exits 1 if any
    check fails. With STRIDEWISE_ENV=production, sandbox URLs and plain http fail.
    Reads only: SMTP gets MAIL FROM and RSET, never a message.

    Example: STRIDEWISE_ENV=production stridewise doctor
    """
    app = current_app()
    checks = run_checks(app.settings, app.engine)
    for check in checks:
        line = f"{MARKS[check.status]} {check.name}: {escape(check.detail)}"
        if check.fix and check.status != OK:
            line += f" [dim]->[/dim] {escape(check.fix)}"
        console.print(line, highlight=False, markup=True, soft_wrap=True)
    if failed(checks):
        raise typer.Exit(1)
