"""Monthly partitions of ``step_intervals`` on PostgreSQL (range on ``start_utc``).

Migration 0013 makes the table partitioned; this module keeps partitions ahead of
the data. Each month is ``step_interval_months.m<YYYY>_<MM>`` and a DEFAULT
partition (``step_interval_months.outside``) takes any row no month covers, so a
write is never refused. The partitions live in their own schema: they are storage,
not model tables, and the model/migration comparison (and autogenerate) looks only
at the default schema.

Partitions are created ahead (``MONTHS_AHEAD``) by ``ingest.db.upgrade`` and a
daily job, so the DEFAULT partition normally stays empty. Should it hold rows of a
month being created (a far-off timestamp, or the job not run for months), they are
moved into the new month in the same transaction, under a lock on the DEFAULT
partition so no concurrent write slips in between (ATTACH takes that lock anyway;
writes to the month partitions go on). Callers take turns under an advisory lock,
so two replicas never create the same month. On SQLite, or before 0013, every
function here does nothing.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import Connection, Engine, text

SCHEMA = "step_interval_months"
DEFAULT_PARTITION = f"{SCHEMA}.outside"
# Months created beyond the current one; the daily job keeps this many ahead.
MONTHS_AHEAD = 3
# Transaction-scoped advisory lock key ("stepprt" in ASCII): replicas starting
# together (each runs ``upgrade``) and the job take turns creating months.
LOCK_KEY = 0x73746570707274


def month_start(day: date) -> date:
    return day.replace(day=1)


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def add_months(month: date, count: int) -> date:
    for _ in range(count):
        month = next_month(month)
    return month


def partition_name(month: date) -> str:
    return f"{SCHEMA}.m{month.year:04d}_{month.month:02d}"


def is_partitioned(connection: Connection) -> bool:
    """True on PostgreSQL once ``step_intervals`` is a partitioned table."""
    if connection.dialect.name != "postgresql":
        return False
    return bool(
        connection.scalar(
            text(
                "SELECT count(*) FROM pg_partitioned_table p JOIN pg_class c "
                "ON c.oid = p.partrelid WHERE c.oid = to_regclass('step_intervals')"
            )
        )
    )


def existing_months(connection: Connection) -> set[str]:
    """Qualified names of the partitions attached to ``step_intervals``."""
    rows = connection.execute(
        text(
            "SELECT n.nspname || '.' || c.relname FROM pg_inherits i "
            "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE i.inhparent = to_regclass('step_intervals')"
        )
    )
    return set(rows.scalars())


def create_month(connection: Connection, month: date) -> None:
    """Create and attach ``month``'s partition, first moving into it any of its rows
    the DEFAULT partition holds (attaching checks that DEFAULT holds none)."""
    name, low, high = partition_name(month), month.isoformat(), next_month(month).isoformat()
    bounds = f"FROM ('{low} 00:00:00+00') TO ('{high} 00:00:00+00')"
    connection.execute(text(f"CREATE TABLE {name} (LIKE step_intervals INCLUDING ALL)"))
    connection.execute(text(f"LOCK TABLE {DEFAULT_PARTITION} IN ACCESS EXCLUSIVE MODE"))
    connection.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE start_utc >= "
            f"'{low} 00:00:00+00' AND start_utc < '{high} 00:00:00+00' RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        )
    )
    connection.execute(
        text(f"ALTER TABLE step_intervals ATTACH PARTITION {name} FOR VALUES {bounds}")
    )


def ensure_months(connection: Connection, months: list[date]) -> list[date]:
    """Create the partitions of ``months`` that do not exist yet; the ones created."""
    if not is_partitioned(connection):
        return []
    connection.execute(text(f"SELECT pg_advisory_xact_lock({LOCK_KEY})"))
    have = existing_months(connection)
    created = []
    for month in sorted({month_start(m) for m in months}):
        if partition_name(month) not in have:
            create_month(connection, month)
            created.append(month)
    return created


def ensure_month_partitions(
    bind: Engine | Connection, today: date, ahead: int = MONTHS_AHEAD
) -> list[date]:
    """Partitions from ``today``'s month through ``ahead`` months later; idempotent.
    Returns the months created (none on SQLite or an unpartitioned table)."""
    first = month_start(today)
    months = [add_months(first, n) for n in range(ahead + 1)]
    if isinstance(bind, Connection):
        return ensure_months(bind, months)
    with bind.begin() as connection:
        return ensure_months(connection, months)
