"""Therapists' own time zone: when their Monday report is due (unset, their
patients' most common zone stands in, as before).

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("therapists", sa.Column("timezone", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("therapists") as batch:  # SQLite rebuilds the table
        batch.drop_column("timezone")
