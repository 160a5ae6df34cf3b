"""Storing intervals from a CSV file (format: :mod:`adapters.csv_file`), each
chunk in its own transaction."""

from __future__ import annotations

import csv
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from sqlalchemy.orm import Session, sessionmaker

from adapters.csv_file import REQUIRED, ImportReport, read_chunks
from core.errors import StridewiseError
from core.schema import StepBatch
from ingest.db import transaction
from ingest.store import write_batch


def import_csv(
    factory: sessionmaker[Session],
    stream: TextIO,
    on_progress: Callable[[], None] = lambda: None,
) -> ImportReport:
    reader = csv.DictReader(stream)
    missing = [c for c in REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise StridewiseError(
            f"CSV is missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}"
        )
    report = ImportReport()
    for rows, lines in read_chunks(reader, report):
        with transaction(factory) as session:
            written = write_batch(session, StepBatch(intervals=rows))
        report.accepted += written.intervals_accepted
        report.changed += written.intervals_changed
        report.rejected.extend((lines[r.index], r.reason) for r in written.rejected)
        on_progress()
    report.rejected.sort()
    return report


def open_csv(path: Path) -> TextIO:
    if not path.is_file():
        raise StridewiseError(f"no such file: {path}")
    return path.open(newline="", encoding="utf-8-sig")
