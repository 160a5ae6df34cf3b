"""``stridewise import fitbit-export``: a Fitbit / Google Takeout export, streamed."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import typer
from rich.progress import MofNCompleteColumn

from adapters.fitbit_export import open_export
from core.errors import StridewiseError
from ingest.patients import check_timezone, get_patient
from stridewise.cli.common import console, import_progress, open_db, show_rejections
from stridewise.cli.transfer import import_app
from stridewise.imports.fitbit_export import import_export


@import_app.command("fitbit-export")
def import_fitbit_export(
    path: Path = typer.Argument(..., help="The export: a zip file or its unpacked folder."),
    patient: str = typer.Option(..., "--patient", help="Whose export it is."),
    timezone: str = typer.Option(
        None, "--timezone", help="Zone the times are in (default: the patient's zone)."
    ),
) -> None:
    """Import minute steps from a Fitbit / Google Takeout export (steps-YYYY-MM-DD.json).

    The export's times are local clock times; the patient's zone (or --timezone) places
    them. Minutes with 0 steps are not stored. Bad entries are listed; good ones land.

    Example: stridewise import fitbit-export --patient P1 takeout-fitbit.zip
    """
    factory = open_db()
    with factory() as session:
        zone_name = timezone or get_patient(session, patient).timezone
    if not zone_name:
        raise StridewiseError(f"patient {patient!r} has no time zone: pass --timezone")
    zone = ZoneInfo(check_timezone(zone_name))
    with (
        open_export(path) as files,
        import_progress("importing days", MofNCompleteColumn()) as progress,
    ):
        if not files:
            raise StridewiseError(f"{path} holds no steps-YYYY-MM-DD.json files")
        task = progress.add_task("days", total=len(files))
        report = import_export(
            factory, patient, files, zone, on_file=lambda _: progress.advance(task)
        )
    console.print(
        f"{report.files} day files, {report.minutes:,} minutes read: {report.accepted:,} "
        f"minutes with steps stored ({report.changed:,} new or revised), "
        f"{len(report.rejected)} rejected"
    )
    show_rejections(report.rejected)
