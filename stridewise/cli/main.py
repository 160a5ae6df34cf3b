"""The ``stridewise`` command: one Typer app, one sub-app per area.

Errors print as one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys

import typer

from core.errors import StridewiseError
from stridewise.cli import db_cmd, demo_cmd, people, rules_cmd, secret_cmd, sync_cmd, transfer
from stridewise.cli.common import err_console, use_app
from stridewise.cli.days_cmd import days_cmd
from stridewise.cli.doctor_cmd import doctor_cmd
from stridewise.cli.fitbit_export_cmd import import_fitbit_export  # noqa: F401 - registers it
from stridewise.cli.link_cmd import link_app
from stridewise.cli.link_garmin import link_garmin_cmd  # noqa: F401 - registers "link garmin"
from stridewise.cli.sandbox_cmd import sandbox_cmd
from stridewise.logs import configure
from stridewise.wiring import App

app = typer.Typer(
    help="stridewise: wearable steps in, pain-safe walking programme out.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(db_cmd.app, name="db")
app.add_typer(people.therapist_app, name="therapist")
app.add_typer(people.patient_app, name="patient")
app.add_typer(transfer.import_app, name="import")
app.add_typer(transfer.export_app, name="export")
app.add_typer(secret_cmd.app, name="secret")
app.command("demo")(demo_cmd.demo_cmd)
app.command("evaluate")(rules_cmd.evaluate_cmd)
app.add_typer(rules_cmd.alerts_app, name="alerts")
app.add_typer(rules_cmd.pain_app, name="pain")
app.add_typer(rules_cmd.exempt_app, name="exempt")
app.add_typer(rules_cmd.plan_app, name="plan")
app.command("days")(days_cmd)
app.add_typer(link_app, name="link")
app.command("sandbox")(sandbox_cmd)
app.command("sync")(sync_cmd.sync_cmd)
app.command("status")(sync_cmd.status_cmd)
app.command("worker")(sync_cmd.worker_cmd)
app.command("serve")(sync_cmd.serve_cmd)
app.command("doctor")(doctor_cmd)

_state = {"debug": False}


@app.callback()
def main(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    _state["debug"] = debug
    if ctx.obj is None:
        ctx.obj = App()
    use_app(ctx.obj)
    configure(ctx.obj.settings.log_format, ctx.obj.settings.log_level)


def run() -> None:
    try:
        app()
    except StridewiseError as err:
        if _state["debug"]:
            raise
        err_console.print(f"[red]error:[/red] {err}", highlight=False)
        sys.exit(1)
    except Exception as err:
        if _state["debug"]:
            raise
        err_console.print(
            f"[red]error:[/red] unexpected {type(err).__name__}: {err} "
            "(run again with --debug for the traceback)",
            highlight=False,
        )
        sys.exit(1)
