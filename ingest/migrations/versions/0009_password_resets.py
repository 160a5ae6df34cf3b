"""Password resets: one-time reset links (as digests) and the requests for them.

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "password_reset_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_password_reset_requests_client_at", "password_reset_requests", ["client", "at"]
    )
    op.create_index(
        "ix_password_reset_requests_email_at", "password_reset_requests", ["email", "at"]
    )
    op.create_table(
        "password_resets",
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("therapist_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["therapist_id"], ["therapists.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("token_digest"),
    )
    op.create_index("ix_password_resets_therapist", "password_resets", ["therapist_id"])


def downgrade() -> None:
    op.drop_index("ix_password_resets_therapist", table_name="password_resets")
    op.drop_table("password_resets")
    op.drop_index("ix_password_reset_requests_email_at", table_name="password_reset_requests")
    op.drop_index("ix_password_reset_requests_client_at", table_name="password_reset_requests")
    op.drop_table("password_reset_requests")
