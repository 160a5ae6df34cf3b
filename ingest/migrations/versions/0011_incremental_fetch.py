"""Incremental fetch: where routine syncs resume reading minute data, when the
look-back was last re-read whole, and what a webhook said changed.

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_COLUMNS = ("synced_until", "full_read_at", "changed_from")


def upgrade() -> None:
    with op.batch_alter_table("linked_accounts") as batch:
        for name in _COLUMNS:
            batch.add_column(sa.Column(name, sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("linked_accounts") as batch:
        for name in reversed(_COLUMNS):
            batch.drop_column(name)
