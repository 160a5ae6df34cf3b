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
    # Every good row up to this line is stored (chunks commit in file order).
    stored_through: int = 1


@dataclass(slots=True)
class Chunk:
    intervals: list[StepInterval]
    lines: list[int]  # the line of each interval
    last_line: int  # the last line read for this chunk, good or bad


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


def read_chunks(reader: csv.DictReader, report: ImportReport) -> Iterator[Chunk]:
    chunk = Chunk([], [], reader.line_num)
    for row in reader:
        report.rows += 1
        chunk.last_line = reader.line_num
        try:
            chunk.intervals.append(parse_row(row))
            chunk.lines.append(reader.line_num)
        except ValueError as err:
            report.rejected.append((reader.line_num, str(err)))
        if len(chunk.intervals) >= CHUNK_ROWS:
            yield chunk
            chunk = Chunk([], [], reader.line_num)
    yield chunk  # the rest, possibly no good row at all
