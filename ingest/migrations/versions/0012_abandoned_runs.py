"""Unfinished sync runs: recorded as ``running`` at the claim (their window is not
known yet, so it may be NULL), and an index over the running ones for the sweep
that closes a crashed worker's as ``abandoned``.

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

RUNNING = sa.text("outcome = 'running'")


def upgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:  # SQLite rebuilds the table
        batch.alter_column("window_start", existing_type=sa.Date(), nullable=True)
        batch.alter_column("window_end", existing_type=sa.Date(), nullable=True)
    op.create_index(
        "ix_sync_runs_running",
        "sync_runs",
        ["account_id"],
        postgresql_where=RUNNING,
        sqlite_where=RUNNING,
    )


def downgrade() -> None:
    op.drop_index("ix_sync_runs_running", table_name="sync_runs")
    op.execute("DELETE FROM sync_runs WHERE window_start IS NULL OR window_end IS NULL")
    with op.batch_alter_table("sync_runs") as batch:
        batch.alter_column("window_start", existing_type=sa.Date(), nullable=False)
        batch.alter_column("window_end", existing_type=sa.Date(), nullable=False)
