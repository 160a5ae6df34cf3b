"""Unfinished sync runs: an index over the ``running`` ones, for the sweep that
closes a crashed worker's runs as ``abandoned``.

Revision ID: 0012_abandoned_runs
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_abandoned_runs"
down_revision = "0009"
branch_labels = None
depends_on = None

RUNNING = sa.text("outcome = 'running'")


def upgrade() -> None:
    op.create_index(
        "ix_sync_runs_running",
        "sync_runs",
        ["account_id"],
        postgresql_where=RUNNING,
        sqlite_where=RUNNING,
    )


def downgrade() -> None:
    op.drop_index("ix_sync_runs_running", table_name="sync_runs")
