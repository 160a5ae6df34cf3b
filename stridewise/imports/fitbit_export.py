"""Storing a Fitbit / Google Takeout export: parsed day file by day file, written
in chunks, each in its own transaction, so a years-long export streams."""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from adapters.fitbit_export import CHUNK_ROWS, DEVICE, PROVIDER, DayFile, ExportReport, parse_day
from core.schema import DeviceInfo, StepBatch, StepInterval
from ingest.db import transaction
from ingest.store import write_batch


def import_export(
    factory: sessionmaker[Session],
    patient_id: str,
    files: list[DayFile],
    zone: ZoneInfo,
    on_file: Callable[[DayFile], None] | None = None,
) -> ExportReport:
    """Read and store ``files`` (see :func:`open_export`) in chunks."""
    report = ExportReport()
    pending: list[StepInterval] = []
    device = DeviceInfo(patient_id, PROVIDER, DEVICE, platform="FITBIT")
    for file in files:
        intervals, rejected, entries = parse_day(file, patient_id, zone)
        report.files += 1
        report.minutes += entries
        report.rejected.extend(rejected)
        pending.extend(intervals)
        if len(pending) >= CHUNK_ROWS:
            _write(factory, pending, device, report)
            pending = []
        if on_file:
            on_file(file)
    _write(factory, pending, device, report)
    return report


def _write(
    factory: sessionmaker[Session],
    intervals: list[StepInterval],
    device: DeviceInfo,
    report: ExportReport,
) -> None:
    with transaction(factory) as session:
        written = write_batch(session, StepBatch(intervals=intervals, devices=[device]))
    report.accepted += written.intervals_accepted
    report.changed += written.intervals_changed
    for rejection in written.rejected:
        row = intervals[rejection.index]
        report.rejected.append((f"minute {row.start.isoformat()}", rejection.reason))
