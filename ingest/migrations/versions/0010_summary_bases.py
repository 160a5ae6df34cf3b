"""Day summaries carry the day view's figures; summary bases hold each patient's
calibrated threshold, so a daily evaluation reads only the intervals of changed days.

Stored summaries are a cache: they are dropped and every day with intervals is marked
dirty, so the next evaluation recomputes them with the new columns.

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DELETE FROM day_summaries")
    op.execute("DELETE FROM dirty_days")
    op.execute(
        "INSERT INTO dirty_days (patient_id, local_date) "
        "SELECT DISTINCT patient_id, local_date FROM step_intervals"
    )
    with op.batch_alter_table("day_summaries") as batch:
        batch.add_column(sa.Column("interval_steps", sa.Integer(), nullable=False))
        batch.add_column(sa.Column("interval_source", sa.Text(), nullable=False))
        batch.add_column(sa.Column("last_end_utc", sa.DateTime(timezone=True), nullable=False))
    op.create_table(
        "summary_bases",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("baseline_from", sa.Date(), nullable=False),
        sa.Column("calibrated_through", sa.Date(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id"),
    )


def downgrade() -> None:
    op.drop_table("summary_bases")
    op.execute("DELETE FROM day_summaries")
    with op.batch_alter_table("day_summaries") as batch:
        for column in ("last_end_utc", "interval_source", "interval_steps"):
            batch.drop_column(column)
