"""Intervals from CSV files, for sources without an adapter.

Required columns ``patient,start,end,steps``; optional ``provider`` (default
``csv``) and ``device`` (default ``unknown``). ``start``/``end`` are ISO 8601
with their UTC offset (``2026-03-08T01:59:00-05:00``); the local date comes from
that offset. Rows come out in chunks so a large file streams and a bad line
costs only itself.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from core.schema import StepInterval

REQUIRED = ("patient", "start", "end", "steps")
CHUNK_ROWS = 20_000


@dataclass(slots=True)
class ImportReport:
    rows: int = 0
    accepted: int = 0
    changed: int = 0
    # (line number, reason), line numbers as a spreadsheet shows them (header = 1)
    rejected: list[tuple[int, str]] = field(default_factory=list)


def _instant(value: str, column: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError as err:
        raise ValueError(f"{column} {value!r} is not an ISO 8601 date-time") from err
    if parsed.tzinfo is None:
        raise ValueError(f"{column} {value!r} has no UTC offset (e.g. -05:00 or Z)")
    return parsed


def parse_row(row: dict[str, str]) -> StepInterval:
    start = _instant(row["start"] or "", "start")
    end = _instant(row["end"] or "", "end")
    try:
        steps = int((row["steps"] or "").strip())
    except ValueError as err:
        raise ValueError(f"steps {row['steps']!r} is not a whole number") from err
    patient = (row["patient"] or "").strip()
    if not patient:
        raise ValueError("patient is empty")
    return StepInterval(
        patient_id=patient,
        provider=(row.get("provider") or "csv").strip(),
        device=(row.get("device") or "unknown").strip(),
        start=start,
        end=end,
        utc_offset_s=int(start.utcoffset().total_seconds()),
        steps=steps,
    )


def read_chunks(reader: csv.DictReader, report: ImportReport) -> Iterator[tuple[list, list[int]]]:
    rows: list[StepInterval] = []
    lines: list[int] = []
    for row in reader:
        report.rows += 1
        line = reader.line_num
        try:
            rows.append(parse_row(row))
            lines.append(line)
        except ValueError as err:
            report.rejected.append((line, str(err)))
        if len(rows) >= CHUNK_ROWS:
            yield rows, lines
            rows, lines = [], []
    if rows:
        yield rows, lines
