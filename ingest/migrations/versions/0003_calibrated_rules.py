"""Calibrated rules: alerts keep facts and episodes (closed, muted, raised_on),
programme start dates, materialised day summaries and the dirty days to recompute.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("facts", sa.JSON(), nullable=False, server_default="{}"))
        batch.add_column(
            sa.Column("raised_on", sa.Date(), nullable=False, server_default="1970-01-01")
        )
        batch.add_column(
            sa.Column("muted", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True))
        batch.drop_column("message")
        batch.drop_constraint("ck_alert_status", type_="check")
        batch.create_check_constraint(
            "ck_alert_status", "status IN ('open', 'acknowledged', 'closed', 'withdrawn')"
        )
    with op.batch_alter_table("alerts") as batch:
        for column in ("facts", "raised_on", "muted"):
            batch.alter_column(column, server_default=None)
    op.create_table(
        "programme_starts",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("start_date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_table(
        "day_summaries",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        *(
            sa.Column(name, sa.Integer(), nullable=False)
            for name in (
                "threshold",
                "wear_hours",
                "walking_minutes",
                "bouts",
                "longest_bout",
                "intraday_minutes",
                "implausible_minutes",
                "implausible_steps",
            )
        ),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id", "local_date"),
    )
    op.create_table(
        "dirty_days",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("local_date", sa.Date(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id", "local_date"),
    )


def downgrade() -> None:
    op.drop_table("dirty_days")
    op.drop_table("day_summaries")
    op.drop_table("programme_starts")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_constraint("ck_alert_status", type_="check")
        batch.create_check_constraint(
            "ck_alert_status", "status IN ('open', 'acknowledged', 'withdrawn')"
        )
        batch.add_column(sa.Column("message", sa.Text(), nullable=False, server_default=""))
        for column in ("closed_at", "muted", "raised_on", "facts"):
            batch.drop_column(column)
