"""The write path: one batch of normalised samples, validated row by row, then
bulk-upserted in the caller's transaction.

Re-ingesting the same data touches nothing; a revised figure overwrites. On
PostgreSQL a batch of a routine sync's size goes in one round trip
(:mod:`ingest.pg_batch`). For larger batches' intervals (a full re-read,
imports), the values already stored for the batch's keys are read first (one
primary-key range scan per stream), so only new and changed rows are written:
new ones by ``COPY`` straight into the table (the bulk-load ceiling); on SQLite
by ``executemany``. Should another writer insert one of the same keys in
between, a savepoint falls back to a staged ``INSERT ... ON CONFLICT DO
UPDATE``. Daily totals and devices are few per batch and take ``ON CONFLICT``
directly (on PostgreSQL in the same round trip as the dirty days).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from functools import cache

from psycopg.errors import UniqueViolation
from sqlalchemy import bindparam, or_, select
from sqlalchemy.dialects import sqlite
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.schema import MAX_UTC_OFFSET_S, DailyTotal, StepBatch, StepInterval
from ingest.models import (
    INTERVAL_COLUMNS,
    INTERVAL_KEY,
    DailyTotalRow,
    Device,
    Patient,
    StepIntervalRow,
)
from ingest.pg_batch import INTERVAL_TYPES, MAX_ROWS, write_small_batch
from ingest.programme_models import mark_dirty

MAX_INTERVAL_S = 24 * 3600

_KEY_LEN = len(INTERVAL_KEY)  # a checked row is its key, then its values
_INTERVAL_VALUES = INTERVAL_COLUMNS[_KEY_LEN:]
_DAY = INTERVAL_COLUMNS.index("local_date")
assert INTERVAL_COLUMNS[:_KEY_LEN] == INTERVAL_KEY, "the interval table must lead with its key"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A row left out of a batch, and why, in words a person can act on."""

    table: str  # "step_intervals" or "daily_totals"
    index: int  # position in the batch's list
    reason: str


@dataclass(slots=True)
class WriteReport:
    intervals_accepted: int = 0
    intervals_changed: int = 0  # inserted or revised; 0 when re-ingesting the same data
    totals_accepted: int = 0
    totals_changed: int = 0
    rejected: list[Rejection] = field(default_factory=list)


@cache
def _offset(seconds: int) -> timedelta:
    return timedelta(seconds=seconds)


def _checked_interval(row: StepInterval, patients: set[str]) -> tuple | str:
    """The row's column values in table order (``INTERVAL_COLUMNS``), or why it is
    refused."""
    if row.patient_id not in patients:
        return f"unknown patient {row.patient_id!r}"
    if not row.provider or not row.device:
        return "provider and device must not be empty"
    start, end = row.start, row.end
    if not isinstance(start, datetime) or not isinstance(end, datetime):
        return "start and end must be datetimes"
    if start.tzinfo is None or end.tzinfo is None:
        return "start and end must carry a UTC offset"
    seconds = (end - start).total_seconds()
    if seconds <= 0:
        return f"end {end.isoformat()} is not after start {start.isoformat()}"
    if seconds > MAX_INTERVAL_S:
        return "interval is longer than a day"
    steps, offset = row.steps, row.utc_offset_s
    if type(steps) is not int:
        return f"steps must be a whole number, got {steps!r}"
    if steps < 0:
        return f"negative steps ({steps})"
    if type(offset) is not int or not -MAX_UTC_OFFSET_S <= offset <= MAX_UTC_OFFSET_S:
        return f"UTC offset {offset!r}s is beyond +-14 h"
    if start.tzinfo is not UTC:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
    local_date = (start + _offset(offset)).date()
    return (
        row.patient_id,
        start,
        row.provider,
        row.device,
        end,
        offset,
        local_date,
        steps,
        int(seconds),
        row.recording_method,
    )


def _total_problem(row: DailyTotal, patients: set[str]) -> str | None:
    if row.patient_id not in patients:
        return f"unknown patient {row.patient_id!r}"
    if not row.provider:
        return "provider must not be empty"
    if not isinstance(row.local_date, date) or isinstance(row.local_date, datetime):
        return f"local_date must be a date, got {row.local_date!r}"
    if not isinstance(row.steps, int) or isinstance(row.steps, bool):
        return f"steps must be a whole number, got {row.steps!r}"
    if row.steps < 0:
        return f"negative steps ({row.steps})"
    return None


def _known_patients(session: Session, ids: Iterable[str]) -> set[str]:
    wanted = {i for i in ids if isinstance(i, str)}
    if not wanted:
        return set()
    return set(session.scalars(select(Patient.id).where(Patient.id.in_(wanted))))


def write_batch(
    session: Session, batch: StepBatch, known_patients: set[str] | None = None
) -> WriteReport:
    """Validate and upsert ``batch`` in ``session``'s transaction (the caller commits).

    Bad rows are left out with a reason; good rows beside them land. Within one
    batch a later duplicate of the same interval or day wins. A caller that has
    just read which patients exist (the sync engine, from its claim) passes them
    as ``known_patients`` and saves the look-up; rows of any other patient are
    refused as unknown.
    """
    report = WriteReport()
    patients = known_patients
    if patients is None:
        patients = _known_patients(
            session,
            {r.patient_id for r in batch.intervals}
            | {r.patient_id for r in batch.daily_totals}
            | {d.patient_id for d in batch.devices},
        )

    intervals: dict[tuple, tuple] = {}
    for index, row in enumerate(batch.intervals):
        checked = _checked_interval(row, patients)
        if type(checked) is str:
            report.rejected.append(Rejection("step_intervals", index, checked))
        else:
            intervals[checked[:_KEY_LEN]] = checked
    totals: dict[tuple, DailyTotal] = {}
    for index, row in enumerate(batch.daily_totals):
        problem = _total_problem(row, patients)
        if problem:
            report.rejected.append(Rejection("daily_totals", index, problem))
            continue
        totals[(row.patient_id, row.provider, row.local_date)] = row

    report.intervals_accepted = len(intervals)
    report.totals_accepted = len(totals)
    devices = list({(d.patient_id, d.provider, d.device): d for d in batch.devices
                    if d.patient_id in patients}.values())  # fmt: skip
    good_rows, good_totals = list(intervals.values()), list(totals.values())
    if _is_pg(session):
        if len(good_rows) <= MAX_ROWS:
            changed = write_small_batch(session, good_rows, good_totals, devices)
        else:  # COPY the new rows, then the rest in one round trip as above
            written, marks = _upsert_intervals(session, intervals)
            changed = written, write_small_batch(session, [], good_totals, devices, marks)[1]
        report.intervals_changed, report.totals_changed = changed
        return report
    days: list[tuple[str, date]] = []
    if intervals:
        report.intervals_changed, marks = _upsert_intervals(session, intervals)
        days += marks
    if totals:
        revised = _upsert_totals(session, good_totals)
        report.totals_changed = len(revised)
        days += revised
    mark_dirty(session, days)  # the rules recompute the days of what was written
    _upsert_devices(session, devices)
    return report


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _on_conflict(distinct: str) -> str:
    changed = " OR ".join(f"step_intervals.{c} {distinct} excluded.{c}" for c in _INTERVAL_VALUES)
    return (
        f"ON CONFLICT ({', '.join(INTERVAL_KEY)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _INTERVAL_VALUES)
        + f" WHERE {changed}"
    )


def _stored_values(session: Session, rows: dict[tuple, tuple]) -> dict[tuple, tuple]:
    """Key -> stored values for the batch's keys, one range scan per source stream."""
    spans: dict[tuple, list] = {}
    for patient_id, start, provider, device, _end in rows:
        span = spans.setdefault((patient_id, provider, device), [start, start])
        span[0], span[1] = min(span[0], start), max(span[1], start)
    connection = session.connection()  # Core on the session's transaction: no ORM layer
    stored: dict[tuple, tuple] = {}
    for (patient_id, provider, device), (first, last) in spans.items():
        found = connection.execute(
            _STORED, {"patient": patient_id, "provider": provider, "device": device,
                      "first": first, "last": last},
        )  # fmt: skip
        for row in found:
            stored[tuple(row[:_KEY_LEN])] = tuple(row[_KEY_LEN:])
    return stored


_INTERVALS = StepIntervalRow.__table__
_STORED = select(*(_INTERVALS.c[c] for c in INTERVAL_COLUMNS)).where(
    _INTERVALS.c.patient_id == bindparam("patient"),
    _INTERVALS.c.provider == bindparam("provider"),
    _INTERVALS.c.device == bindparam("device"),
    _INTERVALS.c.start_utc.between(bindparam("first"), bindparam("last")),
)


def _upsert_intervals(session: Session, rows: dict[tuple, tuple]) -> tuple[int, set]:
    """How many rows were written (new or changed), and the (patient, day)s they
    change: a revised row's old day too, when a corrected offset moved it."""
    stored = _stored_values(session, rows)
    new = [row for key, row in rows.items() if key not in stored]
    changed = [row for key, row in rows.items() if key in stored and stored[key] != row[_KEY_LEN:]]
    if not _is_pg(session):
        _upsert_sqlite(session, new + changed)
    elif not _insert_new_pg(session, new, changed):
        _merge_pg(session, list(rows.values()))
    days = {(row[0], row[_DAY]) for row in new + changed}
    days |= {(row[0], stored[row[:_KEY_LEN]][_DAY - _KEY_LEN]) for row in changed}
    return len(new) + len(changed), days


_COLUMN_LIST = ", ".join(INTERVAL_COLUMNS)
_PG_UPDATE = (
    "UPDATE step_intervals SET "
    + ", ".join(f"{c} = %s" for c in _INTERVAL_VALUES)
    + " WHERE "
    + " AND ".join(f"{c} = %s" for c in INTERVAL_KEY)
)


def _insert_new_pg(session: Session, new: list[tuple], changed: list[tuple]) -> bool:
    """COPY the new rows, update the changed ones; False if a concurrent writer got
    there first (nothing of this attempt is kept then)."""
    connection = session.connection().connection.driver_connection
    cursor = connection.cursor()
    try:
        with connection.transaction():
            if new:
                _copy_rows(cursor, "step_intervals", new)
            if changed:
                cursor.executemany(_PG_UPDATE, [row[_KEY_LEN:] + row[:_KEY_LEN] for row in changed])
    except UniqueViolation:
        return False
    return True


def _copy_rows(cursor, table: str, rows: list[tuple]) -> None:
    with cursor.copy(f"COPY {table} ({_COLUMN_LIST}) FROM STDIN (FORMAT BINARY)") as copy:
        copy.set_types(INTERVAL_TYPES)  # binary: about 7x less client time than text
        for row in rows:
            copy.write_row(row)


_STAGE_DDL = (  # the table's columns, without its key and checks
    "CREATE TEMP TABLE IF NOT EXISTS stage_step_intervals (LIKE step_intervals) "
    "ON COMMIT DELETE ROWS"
)
_PG_MERGE = (
    f"INSERT INTO step_intervals ({_COLUMN_LIST}) SELECT {_COLUMN_LIST} "
    "FROM stage_step_intervals " + _on_conflict("IS DISTINCT FROM")
)


def _merge_pg(session: Session, rows: list[tuple]) -> None:
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.execute(_STAGE_DDL)
    cursor.execute("TRUNCATE stage_step_intervals")
    _copy_rows(cursor, "stage_step_intervals", rows)
    cursor.execute(_PG_MERGE)


_SQLITE_UPSERT = (
    f"INSERT INTO step_intervals ({_COLUMN_LIST}) "
    f"VALUES ({', '.join('?' * len(INTERVAL_COLUMNS))}) " + _on_conflict("IS NOT")
)


def _upsert_sqlite(session: Session, rows: list[tuple]) -> None:
    # Instants as SQLAlchemy's DateTime writes them on SQLite: naive UTC, microseconds
    # (the rows hold UTC datetimes, so cutting "+00:00" off is the cheap way there).
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.executemany(
        _SQLITE_UPSERT,
        (
            (p, s.isoformat(" ", "microseconds")[:26], pr, d,
             e.isoformat(" ", "microseconds")[:26], o, ld.isoformat(), st, res, rm)
            for p, s, pr, d, e, o, ld, st, res, rm in rows
        ),
    )  # fmt: skip


@cache
def _upsert(model, key: tuple, update: tuple, when_changed: tuple = (),
            returning: tuple[str, ...] = ()):  # fmt: skip
    """SQLite's ``INSERT ... ON CONFLICT (key) DO UPDATE SET`` the ``update`` columns;
    with ``when_changed``, only where one of those columns differs. Built once and
    run with a list of rows (executemany), so SQLAlchemy compiles it once per
    process instead of once per batch. (PostgreSQL: :mod:`ingest.pg_batch`.)"""
    table = model.__table__
    stmt = sqlite.insert(table)
    changed = [table.c[c] != stmt.excluded[c] for c in when_changed]
    stmt = stmt.on_conflict_do_update(
        index_elements=list(key),
        set_={c: stmt.excluded[c] for c in update},
        where=or_(*changed) if changed else None,
    )
    return stmt.returning(*(table.c[c] for c in returning)) if returning else stmt


_TOTAL_KEY = ("patient_id", "provider", "local_date")
_TOTAL_UPDATE = ("steps", "provisional", "fetched_at")


def _upsert_totals(session: Session, rows: list[DailyTotal]) -> list[tuple[str, date]]:
    """The (patient, day) of each total written: new or revised."""
    values = [
        {"patient_id": r.patient_id, "provider": r.provider, "local_date": r.local_date,
         "steps": r.steps, "provisional": r.provisional, "fetched_at": r.fetched_at}
        for r in rows
    ]  # fmt: skip
    stmt = _upsert(DailyTotalRow, _TOTAL_KEY, _TOTAL_UPDATE, _TOTAL_UPDATE[:2],
                   returning=("patient_id", "local_date"))  # fmt: skip
    return [tuple(row) for row in session.connection().execute(stmt, values)]


def _upsert_devices(session: Session, devices: list) -> None:
    if not devices:
        return
    now = utcnow()
    values = [
        {"patient_id": d.patient_id, "provider": d.provider, "device": d.device,
         "platform": d.platform, "form_factor": d.form_factor, "manufacturer": d.manufacturer,
         "first_seen": now, "last_seen": now}
        for d in devices
    ]  # fmt: skip
    key = ("patient_id", "provider", "device")
    update = ("platform", "form_factor", "manufacturer", "last_seen")
    session.connection().execute(_upsert(Device, key, update), values)
