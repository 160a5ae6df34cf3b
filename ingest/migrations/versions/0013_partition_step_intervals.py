"""PostgreSQL: ``step_intervals`` partitioned by month (range on ``start_utc``), so
old months can be detached and dropped whole and each month's b-tree stays small.

The new table has the same columns, checks, primary key and foreign key; a
partition per month holding data, per month from the current one through
``MONTHS_AHEAD`` later, and a DEFAULT partition; the rows are copied across and
the tables swapped, in the migration's one transaction (writes wait for it).
Partitions live in the ``step_interval_months`` schema (``ingest.partitions``).
SQLite keeps its WITHOUT ROWID table: both directions do nothing there.

Revision ID: 0013
Revises: 0012
"""

from datetime import UTC, datetime

from alembic import op

from ingest.partitions import (
    DEFAULT_PARTITION,
    MONTHS_AHEAD,
    SCHEMA,
    add_months,
    ensure_months,
    month_start,
)

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

FOREIGN_KEY = (
    "ALTER TABLE step_intervals ADD CONSTRAINT step_intervals_patient_id_fkey "
    "FOREIGN KEY (patient_id) REFERENCES patients (id) ON DELETE CASCADE"
)


def _set_aside(old: str) -> None:
    """Rename the table and its key index, freeing the names for the new table."""
    op.execute(f"ALTER TABLE step_intervals RENAME TO {old}")
    op.execute(f"ALTER TABLE {old} RENAME CONSTRAINT step_intervals_pkey TO {old}_pkey")


def _fill_and_drop(old: str) -> None:
    op.execute(FOREIGN_KEY)
    op.execute(f"INSERT INTO step_intervals SELECT * FROM {old}")
    op.execute(f"DROP TABLE {old} CASCADE")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    _set_aside("step_intervals_plain")
    op.execute(
        "CREATE TABLE step_intervals (LIKE step_intervals_plain INCLUDING ALL) "
        "PARTITION BY RANGE (start_utc)"
    )
    op.execute(f"CREATE SCHEMA {SCHEMA}")
    op.execute(f"CREATE TABLE {DEFAULT_PARTITION} PARTITION OF step_intervals DEFAULT")
    held = bind.exec_driver_sql(
        "SELECT DISTINCT date_trunc('month', start_utc AT TIME ZONE 'UTC')::date "
        "FROM step_intervals_plain"
    ).scalars()
    current = month_start(datetime.now(UTC).date())
    ahead = [add_months(current, n) for n in range(MONTHS_AHEAD + 1)]
    ensure_months(bind, [*held, *ahead])
    _fill_and_drop("step_intervals_plain")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    _set_aside("step_intervals_partitioned")
    op.execute("CREATE TABLE step_intervals (LIKE step_intervals_partitioned INCLUDING ALL)")
    _fill_and_drop("step_intervals_partitioned")
    op.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
