"""Storing intervals from a CSV file (format: :mod:`adapters.csv_file`), plain or
gzip-compressed, each chunk in its own transaction.

Chunks commit in file order, so when an import stops part-way (a line that cannot
be decoded, a truncated ``.gz``, the database going away) everything up to one
line is stored and nothing after it: :class:`ImportStopped` says which line.
Importing the same file again changes nothing that is already stored.
"""

from __future__ import annotations

import csv
import gzip
import io
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from adapters.csv_file import REQUIRED, ImportReport, read_chunks
from core.errors import StridewiseError
from core.schema import StepBatch
from ingest.db import transaction
from ingest.store import write_batch

GZIP_MAGIC = b"\x1f\x8b"
# What can end an import part-way: unreadable bytes, a damaged archive, the database.
STOPPING_ERRORS = (UnicodeDecodeError, csv.Error, EOFError, OSError, zlib.error, SQLAlchemyError)


class ImportStopped(StridewiseError):
    """The import ended part-way; ``report`` holds what was stored until then."""

    def __init__(self, report: ImportReport, err: Exception) -> None:
        self.report = report
        through = report.stored_through
        stored = f"lines 2-{through} are stored" if through > 1 else "nothing was stored"
        super().__init__(
            f"the import stopped after line {through}: {type(err).__name__}: {err}; "
            f"{stored}, nothing after line {through} is; fix the file and import it "
            "again (stored lines stay as they are)"
        )


@dataclass
class CsvFile:
    """An open CSV file; ``position()`` is how far into the file on disk it has read
    (the progress; the text stream itself cannot tell while it is iterated)."""

    text: TextIO
    raw: BinaryIO
    size: int

    def position(self) -> int:
        return self.raw.tell()


@contextmanager
def open_csv(path: Path) -> Iterator[CsvFile]:
    """``path`` as text, gunzipped when it is gzip (by its first bytes, not its name)."""
    if not path.is_file():
        raise StridewiseError(f"no such file: {path}")
    with path.open("rb") as raw:
        compressed = raw.read(2) == GZIP_MAGIC
        raw.seek(0)
        binary: BinaryIO = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        text = io.TextIOWrapper(binary, encoding="utf-8-sig", newline="")
        try:
            yield CsvFile(text, raw, path.stat().st_size)
        finally:
            text.close()


def import_csv(
    factory: sessionmaker[Session],
    stream: TextIO,
    on_progress: Callable[[], None] = lambda: None,
) -> ImportReport:
    """Store every good row of ``stream``; raises :class:`ImportStopped` when the
    file or the database fails part-way."""
    report = ImportReport()
    try:
        reader = csv.DictReader(stream)
        fields = reader.fieldnames or []
    except STOPPING_ERRORS as err:
        raise StridewiseError(f"cannot read the CSV header: {type(err).__name__}: {err}") from err
    missing = [c for c in REQUIRED if c not in fields]
    if missing:
        raise StridewiseError(
            f"CSV is missing column(s) {', '.join(missing)}; required: {', '.join(REQUIRED)}"
        )
    try:
        for chunk in read_chunks(reader, report):
            if chunk.intervals:
                with transaction(factory) as session:
                    written = write_batch(session, StepBatch(intervals=chunk.intervals))
                report.accepted += written.intervals_accepted
                report.changed += written.intervals_changed
                report.rejected.extend((chunk.lines[r.index], r.reason) for r in written.rejected)
            report.stored_through = chunk.last_line
            on_progress()
    except STOPPING_ERRORS as err:
        # Lines read after the last stored chunk are neither stored nor judged.
        report.rejected = sorted(r for r in report.rejected if r[0] <= report.stored_through)
        raise ImportStopped(report, err) from err
    report.rejected.sort()
    return report
