"""Therapists' access: passwords, sessions, sign-in attempts, API tokens, alert snoozes,
caseload summaries.

Revision ID: 0006
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _therapist_fk() -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["therapist_id"], ["therapists.id"], ondelete="CASCADE")


def upgrade() -> None:
    op.create_table(
        "therapist_passwords",
        sa.Column("therapist_id", sa.String(length=64), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        _therapist_fk(),
        sa.PrimaryKeyConstraint("therapist_id"),
    )
    op.create_table(
        "therapist_sessions",
        sa.Column("id_digest", sa.String(length=64), nullable=False),
        sa.Column("therapist_id", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        _therapist_fk(),
        sa.PrimaryKeyConstraint("id_digest"),
    )
    op.create_index("ix_therapist_sessions_therapist", "therapist_sessions", ["therapist_id"])
    op.create_table(
        "login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("client", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("succeeded", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_attempts_email_at", "login_attempts", ["email", "at"])
    op.create_index("ix_login_attempts_client_at", "login_attempts", ["client", "at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _therapist_fk(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_digest"),
    )
    op.create_index("ix_api_tokens_therapist", "api_tokens", ["therapist_id"])
    op.create_table(
        "alert_snoozes",
        sa.Column("alert_id", sa.Integer(), nullable=False),
        sa.Column("therapist_id", sa.String(length=64), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["alert_id"], ["alerts.id"], ondelete="CASCADE"),
        _therapist_fk(),
        sa.PrimaryKeyConstraint("alert_id"),
    )
    op.create_table(
        "caseload_summaries",
        sa.Column("patient_id", sa.String(length=64), nullable=False),
        sa.Column("computed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("figures", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["patient_id"], ["patients.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("patient_id"),
    )


def downgrade() -> None:
    op.drop_table("caseload_summaries")
    op.drop_table("alert_snoozes")
    op.drop_index("ix_api_tokens_therapist", table_name="api_tokens")
    op.drop_table("api_tokens")
    op.drop_index("ix_login_attempts_client_at", table_name="login_attempts")
    op.drop_index("ix_login_attempts_email_at", table_name="login_attempts")
    op.drop_table("login_attempts")
    op.drop_index("ix_therapist_sessions_therapist", table_name="therapist_sessions")
    op.drop_table("therapist_sessions")
    op.drop_table("therapist_passwords")
