"""The ``stridewise`` command: one Typer app, one sub-app per area.

Sub-commands are imported only when they run (``stridewise.cli.lazy``), so
``stridewise --help`` and every command start without what the others need. A
new command goes into ``COMMANDS`` with the one-line help ``--help`` lists
(``tests/test_cli_startup.py`` checks it against the command's own).

Errors print as one line and exit non-zero; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import sys

import typer

from core.errors import StridewiseError
from stridewise.cli.common import err_console, use_app
from stridewise.cli.lazy import Lazy, lazy_group

COMMANDS: dict[str, Lazy] = {
    "db": Lazy(".db_cmd:app", "Database schema."),
    "therapist": Lazy(
        ".people:therapist_app", "Therapists, who read adherence reports.", extras=(".access_cmd",)
    ),  # "therapist password"
    "patient": Lazy(
        ".people:patient_app", "Patients, whose walking is monitored.", extras=(".invite_cmd",)
    ),  # "patient invite"
    "import": Lazy(
        ".transfer:import_app", "Bring step data in from files.", extras=(".fitbit_export_cmd",)
    ),  # "import fitbit-export"
    "export": Lazy(".transfer:export_app", "Take step data out."),
    "secret": Lazy(".secret_cmd:app", "Encryption keys for stored provider credentials."),
    "demo": Lazy(
        ".demo_cmd:demo_cmd",
        "Build a demo clinic from nothing (SQLite, loopback sandboxes) and show it.",
    ),
    "evaluate": Lazy(
        ".rules_cmd:evaluate_cmd",
        "Run the rules (idempotent) and show new, still-open and withdrawn alerts.",
    ),
    "alerts": Lazy(
        ".rules_cmd:alerts_app", "Adherence alerts raised by the rules (stored for delivery)."
    ),
    "pain": Lazy(".rules_cmd:pain_app", "Pain reports (0-10), which drive holds and flare alerts."),
    "exempt": Lazy(
        ".rules_cmd:exempt_app",
        "Exempt days (illness, travel, weather): under-target and inactivity pause.",
    ),
    "plan": Lazy(".rules_cmd:plan_app", "The walking programme, week by week."),
    "days": Lazy(
        ".days_cmd:days_cmd",
        "Each local day's status (valid, low-wear, missing, provisional, exempt), wear\n"
        "hours, steps and their source, walking minutes and bouts at the patient's walking\n"
        "threshold, and the flags (overdoing, implausible). A day not worn shows no steps.",
    ),
    "link": Lazy(
        ".link_cmd:link_app",
        "Link patients to wearable accounts (tokens are stored encrypted).",
        extras=(".link_garmin",),
    ),  # "link garmin"
    "sandbox": Lazy(
        ".sandbox_cmd:sandbox_cmd",
        "Run the Google Health and Garmin Connect sandboxes on loopback until Ctrl-C.",
    ),
    "sync": Lazy(
        ".sync_cmd:sync_cmd",
        "Run syncs in the foreground and show what each did; exits 1 if any failed.",
    ),
    "status": Lazy(
        ".sync_cmd:status_cmd",
        "Show each linked account's sync state: health, last success, next due, last run.",
    ),
    "worker": Lazy(
        ".sync_cmd:worker_cmd",
        "Run the scheduler without the web app: sync due accounts until stopped.",
    ),
    "serve": Lazy(".sync_cmd:serve_cmd", "Run the web app and the scheduler in one process."),
    "api-token": Lazy(
        ".access_cmd:api_token_app", "Bearer tokens for the REST API, one therapist each."
    ),
    "deliver": Lazy(
        ".delivery_cmd:deliver_cmd",
        "Send everything due in the outbox once, in the foreground, and say what happened.",
    ),
    "outbox": Lazy(".delivery_cmd:outbox_app", "The outbox: messages waiting, sent or dead."),
    "webhook": Lazy(
        ".delivery_cmd:webhook_app", "Webhook endpoints that receive a therapist's signed events."
    ),
    "report": Lazy(".report_cmd:report_app", "Reports for therapists."),
    "doctor": Lazy(
        ".doctor_cmd:doctor_cmd",
        "Check the configuration: keys, database, providers, OAuth, webhook, SMTP, scheduler.",
    ),
}

app = typer.Typer(
    cls=lazy_group(COMMANDS),
    help="stridewise: wearable steps in, pain-safe walking programme out.",
    no_args_is_help=True,
    rich_markup_mode="rich",
    pretty_exceptions_enable=False,
    add_completion=False,
)

_state = {"debug": False}


@app.callback()
def main(
    ctx: typer.Context,
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks on errors."),
) -> None:
    from stridewise.logs import configure
    from stridewise.wiring import App

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
