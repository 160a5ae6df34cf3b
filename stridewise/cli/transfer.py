"""``stridewise import`` and ``stridewise export``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer
from rich.progress import TaskProgressColumn

from adapters.csv_file import ImportReport
from ingest import export
from stridewise.cli import interop_cmd
from stridewise.cli.common import (
    app_for,
    console,
    import_progress,
    list_rejections,
    open_db,
    parse_date,
    show_rejections,
)
from stridewise.imports.csv_import import ImportStopped, import_csv, open_csv

import_app = app_for("Bring step data in from files.")
export_app = app_for("Take step data out.")


@import_app.command("csv")
def import_csv_cmd(
    file: Path = typer.Argument(
        ..., help="CSV (or .csv.gz): patient,start,end,steps[,provider,device]."
    ),
) -> None:
    """Import step intervals from a CSV file, plain or gzip-compressed (for sources
    without an adapter).

    start/end are ISO 8601 with their UTC offset, e.g. 2026-03-08T01:59:00-05:00; the
    local date comes from that offset. Bad lines are listed and skipped; good ones land.
    Should the import stop part-way, it says up to which line everything is stored.

    Example: stridewise import csv steps.csv.gz
    """
    with (
        open_csv(file) as source,
        import_progress("importing", TaskProgressColumn()) as progress,
    ):
        task = progress.add_task("csv", total=source.size or None)
        try:
            report = import_csv(
                open_db(),
                source.text,
                on_progress=lambda: progress.update(task, completed=source.position()),
            )
        except ImportStopped as stopped:
            progress.stop()
            list_rejections(_summary(stopped.report))
            raise
    show_rejections(_summary(report))


def _summary(report: ImportReport) -> list[tuple[str, str]]:
    """Print what an import did; return its rejected lines to show."""
    console.print(
        f"{report.rows} rows read: {report.accepted} accepted ({report.changed} new or revised), "
        f"{len(report.rejected)} rejected"
    )
    return [(f"line {line}", reason) for line, reason in report.rejected]


class Format(StrEnum):
    csv = "csv"
    json = "json"
    fhir = "fhir"  # these three: stridewise.cli.interop_cmd
    fhir_ndjson = "fhir-ndjson"
    ieee1752 = "ieee1752"


import_app.command("fhir")(interop_cmd.import_fhir)


@export_app.command("steps")
def export_steps(
    patient: str = typer.Option(None, "--patient", help="The patient's id."),
    first: str = typer.Option(..., "--from", help="First local date, e.g. 2026-03-01."),
    last: str = typer.Option(..., "--to", help="Last local date (included)."),
    fmt: Format = typer.Option(
        Format.json, "--format", help="json, csv, fhir, fhir-ndjson (a folder) or ieee1752."
    ),
    intervals: bool = typer.Option(
        False, "--intervals", help="CSV only: the stored intervals in import format, not days."
    ),
    all_patients: bool = typer.Option(False, "--all", help="fhir-ndjson: the whole clinic."),
    per_day: bool = typer.Option(False, "--per-day", help="ieee1752: one item per day."),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout."),
) -> None:
    """Export a patient's days (never adding sources up) and stored intervals.

    JSON holds "days" (date, steps, source, basis) and "intervals" (UTC start/end,
    local_date, steps, provider, device, whether it counts toward its day). fhir prints
    a FHIR R4 Bundle; fhir-ndjson writes one NDJSON file per resource type into the
    --output folder (Bulk Data style); ieee1752 prints an IEEE 1752.1 data point.

    Example: stridewise export steps --patient P1 --from 2026-03-01 --to 2026-03-14 --format csv

    Example (the clinic, Bulk Data style):
    stridewise export steps --all --from 2026-01-01 --to 2026-06-30 --format fhir-ndjson -o out
    """
    start, end = parse_date(first, "--from"), parse_date(last, "--to")
    if end < start:
        raise typer.BadParameter("--to is before --from")
    if fmt.value in interop_cmd.FORMATS:
        return interop_cmd.export_steps(
            fmt.value, patient, start, end, all_patients, per_day, output
        )
    if patient is None:
        raise typer.BadParameter("--patient is required for json and csv")
    with open_db()() as session:
        data = export.collect(session, patient, start, end)
    if fmt is Format.json:
        text = export.to_json(data)
    else:
        text = export.intervals_csv(data) if intervals else export.days_csv(data)
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        print(text, end="" if text.endswith("\n") else "\n")
