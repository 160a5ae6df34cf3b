"""Tables of therapists' access: passwords, browser sessions, sign-in attempts,
password-reset links, API tokens, alert snoozes and the caseload summaries the
dashboard reads. Secrets are never stored: passwords as argon2 hashes, session ids,
reset links and API tokens as SHA-256 digests."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.clock import utcnow
from ingest.models import Base


class TherapistPassword(Base):
    __tablename__ = "therapist_passwords"

    therapist_id: Mapped[str] = mapped_column(
        ForeignKey("therapists.id", ondelete="CASCADE"), primary_key=True
    )
    password_hash: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TherapistSession(Base):
    """A signed-in browser; the cookie holds the id, the row holds its digest."""

    __tablename__ = "therapist_sessions"
    __table_args__ = (Index("ix_therapist_sessions_therapist", "therapist_id"),)

    id_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()


class LoginAttempt(Base):
    """One sign-in try, for the per-address rate limit and the per-account lock-out."""

    __tablename__ = "login_attempts"
    __table_args__ = (
        Index("ix_login_attempts_email_at", "email", "at"),
        Index("ix_login_attempts_client_at", "client", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    succeeded: Mapped[bool] = mapped_column(Boolean)


class PasswordResetRequest(Base):
    """One "forgot my password" request, known address or not, for the rate limits
    (counting every request, so a limit never tells whether an account exists)."""

    __tablename__ = "password_reset_requests"
    __table_args__ = (
        Index("ix_password_reset_requests_client_at", "client", "at"),
        Index("ix_password_reset_requests_email_at", "email", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    email: Mapped[str] = mapped_column(String(320))
    client: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PasswordReset(Base):
    """A one-time reset link: the email holds the token, the row its SHA-256 digest."""

    __tablename__ = "password_resets"
    __table_args__ = (Index("ix_password_resets_therapist", "therapist_id"),)

    token_digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id", ondelete="CASCADE"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    used_at: Mapped[datetime | None] = mapped_column()


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_therapist", "therapist_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class AlertSnooze(Base):
    """A therapist put an alert aside until a moment; it sorts as quiet until then."""

    __tablename__ = "alert_snoozes"

    alert_id: Mapped[int] = mapped_column(
        ForeignKey("alerts.id", ondelete="CASCADE"), primary_key=True
    )
    therapist_id: Mapped[str] = mapped_column(ForeignKey("therapists.id", ondelete="CASCADE"))
    until: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseloadSummary(Base):
    """One patient's dashboard figures, computed by the rules in a batch (after syncs,
    and whenever the patient's page is opened), so the dashboard reads one row per
    patient instead of running the programme for the whole caseload per request."""

    __tablename__ = "caseload_summaries"

    patient_id: Mapped[str] = mapped_column(
        ForeignKey("patients.id", ondelete="CASCADE"), primary_key=True
    )
    computed_at: Mapped[datetime] = mapped_column()
    # The patient's local date the figures are as of.
    as_of: Mapped[date] = mapped_column(Date)
    # level, walks_planned, walks_done, minutes_planned, phase, days_with_data,
    # last_data (ISO date), spark: [[ISO date, steps or null, status], ...] (28 days).
    figures: Mapped[dict] = mapped_column(JSON)
