"""The write path: one batch of normalised samples, validated row by row, then
bulk-upserted in the caller's transaction.

Upserts are ``INSERT ... ON CONFLICT DO UPDATE ... WHERE <something differs>``:
re-ingesting the same data touches nothing, a revised figure overwrites. On
PostgreSQL the intervals go through ``COPY`` into a session-local staging table
first (the practical ceiling for bulk loads); SQLite takes them by
``executemany``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from ingest.models import DailyTotalRow, Device, Patient, utcnow
from ingest.schema import MAX_UTC_OFFSET_S, DailyTotal, StepBatch, StepInterval

MAX_INTERVAL_S = 24 * 3600

_INTERVAL_COLUMNS = (
    "patient_id",
    "provider",
    "device",
    "start_utc",
    "end_utc",
    "utc_offset_s",
    "local_date",
    "steps",
    "resolution_s",
    "recording_method",
)
_INTERVAL_KEY = ("patient_id", "provider", "device", "start_utc", "end_utc")
_INTERVAL_VALUES = ("utc_offset_s", "local_date", "steps", "resolution_s", "recording_method")


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


def _interval_problem(row: StepInterval, patients: set[str]) -> str | None:
    if row.patient_id not in patients:
        return f"unknown patient {row.patient_id!r}"
    if not row.provider or not row.device:
        return "provider and device must not be empty"
    if not isinstance(row.start, datetime) or not isinstance(row.end, datetime):
        return "start and end must be datetimes"
    if row.start.tzinfo is None or row.end.tzinfo is None:
        return "start and end must carry a UTC offset"
    if row.end <= row.start:
        return f"end {row.end.isoformat()} is not after start {row.start.isoformat()}"
    if (row.end - row.start).total_seconds() > MAX_INTERVAL_S:
        return "interval is longer than a day"
    if not isinstance(row.steps, int) or isinstance(row.steps, bool):
        return f"steps must be a whole number, got {row.steps!r}"
    if row.steps < 0:
        return f"negative steps ({row.steps})"
    if not isinstance(row.utc_offset_s, int) or abs(row.utc_offset_s) > MAX_UTC_OFFSET_S:
        return f"UTC offset {row.utc_offset_s!r}s is beyond +-14 h"
    return None


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


def write_batch(session: Session, batch: StepBatch) -> WriteReport:
    """Validate and upsert ``batch`` in ``session``'s transaction (the caller commits).

    Bad rows are left out with a reason; good rows beside them land. Within one
    batch a later duplicate of the same interval or day wins.
    """
    report = WriteReport()
    patients = _known_patients(
        session,
        [r.patient_id for r in batch.intervals]
        + [r.patient_id for r in batch.daily_totals]
        + [d.patient_id for d in batch.devices],
    )

    intervals: dict[tuple, tuple] = {}
    for index, row in enumerate(batch.intervals):
        problem = _interval_problem(row, patients)
        if problem:
            report.rejected.append(Rejection("step_intervals", index, problem))
            continue
        start, end = row.start.astimezone(UTC), row.end.astimezone(UTC)
        values = (
            row.patient_id,
            row.provider,
            row.device,
            start,
            end,
            row.utc_offset_s,
            row.local_date,
            row.steps,
            int((end - start).total_seconds()),
            row.recording_method,
        )
        intervals[values[:5]] = values
    totals: dict[tuple, DailyTotal] = {}
    for index, row in enumerate(batch.daily_totals):
        problem = _total_problem(row, patients)
        if problem:
            report.rejected.append(Rejection("daily_totals", index, problem))
            continue
        totals[(row.patient_id, row.provider, row.local_date)] = row

    report.intervals_accepted = len(intervals)
    report.totals_accepted = len(totals)
    if intervals:
        upsert = _upsert_intervals_pg if _is_pg(session) else _upsert_intervals_sqlite
        report.intervals_changed = upsert(session, list(intervals.values()))
    if totals:
        report.totals_changed = _upsert_totals(session, list(totals.values()))
    _upsert_devices(session, [d for d in batch.devices if d.patient_id in patients])
    return report


def _is_pg(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _on_conflict(distinct: str) -> str:
    changed = " OR ".join(f"step_intervals.{c} {distinct} excluded.{c}" for c in _INTERVAL_VALUES)
    return (
        f"ON CONFLICT ({', '.join(_INTERVAL_KEY)}) DO UPDATE SET "
        + ", ".join(f"{c} = excluded.{c}" for c in _INTERVAL_VALUES)
        + f" WHERE {changed}"
    )


_STAGE_DDL = (
    "CREATE TEMP TABLE IF NOT EXISTS stage_step_intervals ("
    "patient_id text, provider text, device text, start_utc timestamptz, "
    "end_utc timestamptz, utc_offset_s integer, local_date date, steps integer, "
    "resolution_s integer, recording_method text) ON COMMIT DELETE ROWS"
)
_PG_MERGE = (
    f"INSERT INTO step_intervals ({', '.join(_INTERVAL_COLUMNS)}) "
    f"SELECT {', '.join(_INTERVAL_COLUMNS)} FROM stage_step_intervals "
    + _on_conflict("IS DISTINCT FROM")
)


def _upsert_intervals_pg(session: Session, rows: list[tuple]) -> int:
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.execute(_STAGE_DDL)
    # A staging table left with rows by an earlier statement of this transaction.
    cursor.execute("TRUNCATE stage_step_intervals")
    with cursor.copy(
        f"COPY stage_step_intervals ({', '.join(_INTERVAL_COLUMNS)}) FROM STDIN"
    ) as copy:
        for row in rows:
            copy.write_row(row)
    cursor.execute(_PG_MERGE)
    return cursor.rowcount


_SQLITE_UPSERT = (
    f"INSERT INTO step_intervals ({', '.join(_INTERVAL_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_INTERVAL_COLUMNS))}) " + _on_conflict("IS NOT")
)
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # the format SQLAlchemy's DateTime uses on SQLite


def _upsert_intervals_sqlite(session: Session, rows: list[tuple]) -> int:
    cursor = session.connection().connection.driver_connection.cursor()
    cursor.executemany(
        _SQLITE_UPSERT,
        (
            (
                p,
                pr,
                d,
                s.strftime(_SQLITE_DATETIME),
                e.strftime(_SQLITE_DATETIME),
                o,
                ld.isoformat(),
                st,
                res,
                rm,
            )
            for p, pr, d, s, e, o, ld, st, res, rm in rows
        ),
    )
    return cursor.rowcount


def _dialect_insert(session: Session):
    return postgresql.insert if _is_pg(session) else sqlite.insert


def _upsert_totals(session: Session, rows: list[DailyTotal]) -> int:
    stmt = _dialect_insert(session)(DailyTotalRow).values(
        [
            {
                "patient_id": r.patient_id,
                "provider": r.provider,
                "local_date": r.local_date,
                "steps": r.steps,
                "provisional": r.provisional,
                "fetched_at": r.fetched_at,
            }
            for r in rows
        ]
    )
    table = DailyTotalRow.__table__
    stmt = stmt.on_conflict_do_update(
        index_elements=["patient_id", "provider", "local_date"],
        set_={
            "steps": stmt.excluded.steps,
            "provisional": stmt.excluded.provisional,
            "fetched_at": stmt.excluded.fetched_at,
        },
        where=(table.c.steps != stmt.excluded.steps)
        | (table.c.provisional != stmt.excluded.provisional),
    )
    return len(session.execute(stmt.returning(table.c.id)).all())


def _upsert_devices(session: Session, devices: list) -> None:
    unique = {(d.patient_id, d.provider, d.device): d for d in devices}
    if not unique:
        return
    now = utcnow()
    stmt = _dialect_insert(session)(Device).values(
        [
            {
                "patient_id": d.patient_id,
                "provider": d.provider,
                "device": d.device,
                "platform": d.platform,
                "form_factor": d.form_factor,
                "manufacturer": d.manufacturer,
                "first_seen": now,
                "last_seen": now,
            }
            for d in unique.values()
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["patient_id", "provider", "device"],
        set_={
            "platform": stmt.excluded.platform,
            "form_factor": stmt.excluded.form_factor,
            "manufacturer": stmt.excluded.manufacturer,
            "last_seen": stmt.excluded.last_seen,
        },
    )
    session.execute(stmt)
