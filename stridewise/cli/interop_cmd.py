"""``export steps --format fhir|fhir-ndjson|ieee1752`` and ``import fhir FILE``.

``stridewise.cli.transfer`` owns ``export steps`` and hands these formats here.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import typer

from core.clock import utcnow
from core.errors import StridewiseError
from ingest.db import transaction
from interop.export import clinic_ndjson, patient_bundle, patient_data_point
from interop.fhir_import import store_bundle
from stridewise.cli.common import console, open_db, settings, show_rejections

FORMATS = ("fhir", "fhir-ndjson", "ieee1752")


def export_steps(
    fmt: str,
    patient: str | None,
    first: date,
    last: date,
    all_patients: bool,
    per_day: bool,
    output: Path | None,
) -> None:
    """Write one of the standard formats (see ``export steps --help``)."""
    priority = settings().source_priority
    now = utcnow()
    if fmt == "fhir-ndjson":
        if output is None:
            raise StridewiseError("--format fhir-ndjson writes a folder: give it with --output")
        if all_patients == (patient is not None):
            raise StridewiseError("give --patient P or --all")
        ids = None if all_patients else [patient]
        with open_db()() as session:
            report = clinic_ndjson(session, output, now, first, last, ids, priority)
        counts = ", ".join(f"{n} {kind}" for kind, n in report.counts.items() if n)
        console.print(f"{report.patients} patients: {counts or 'nothing'} in {output}/")
        return
    if all_patients or patient is None:
        raise StridewiseError(f"--format {fmt} is for one patient: give --patient (or use "
                              "--format fhir-ndjson --all for the clinic)")  # fmt: skip
    with open_db()() as session:
        if fmt == "fhir":
            data = patient_bundle(session, patient, first, last, now, priority)
        else:
            data = patient_data_point(session, patient, first, last, now, per_day, priority)
    text = json.dumps(data, indent=2) + "\n"
    if output:
        output.write_text(text, encoding="utf-8")
        console.print(f"wrote {output}")
    else:
        print(text, end="")


def import_fhir(
    file: Path = typer.Argument(..., help="A FHIR R4 Bundle (JSON) of daily-steps Observations."),
) -> None:
    """Import daily step totals from a FHIR Bundle (for instance another system's export).

    Each daily-steps Observation (LOINC 41950-7, UCUM /d, a date-only effective date,
    a subject with a stridewise patient identifier) becomes a daily total under the
    source its Device names. Days the data already shows are left alone; entries that
    cannot be mapped are listed with the reason, the good ones beside them land.

    Example: stridewise import fhir bundle.json
    """
    if not file.is_file():
        raise StridewiseError(f"no such file: {file}")
    try:
        data = json.loads(file.read_text(encoding="utf-8-sig"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise StridewiseError(f"{file} is not JSON: {err}") from err
    with transaction(open_db()) as session:
        report = store_bundle(session, data, utcnow())
    console.print(
        f"{report.entries} entries: {report.imported} daily totals new or revised, "
        f"{report.unchanged} unchanged, {len(report.skipped)} skipped, "
        f"{len(report.refused)} refused"
    )
    show_rejections(report.refused)
