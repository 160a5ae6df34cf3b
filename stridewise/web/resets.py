"""Password reset by an emailed one-time link: requests (rate limited, never telling
whether an address has an account), links stored as SHA-256 digests that expire
after 30 minutes and work once, and the email itself.

The email is sent straight over SMTP, not through the outbox: an outbox row keeps
its ``payload`` until it is purged and composes the words from it at send time, so
the link would have to sit in the database in plain text. A reset link nobody
receives in half an hour is worth nothing anyway; the therapist asks again."""

from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import make_msgid

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from delivery.composed import Composed
from delivery.config import DeliveryConfig
from delivery.email import SmtpSender, build_email, domain_of
from ingest.access_models import PasswordReset, PasswordResetRequest, TherapistPassword
from ingest.models import Therapist
from stridewise.web.accounts import LoginRefused, set_password
from stridewise.web.signing import random_token, token_digest

LINK_LIFETIME = timedelta(minutes=30)
# Reset requests one address may send per minute, whatever the emails.
REQUESTS_PER_CLIENT_PER_MINUTE = 5
# Links mailed to one account per link lifetime; more requests get the same answer
# and no email, so nobody can flood a therapist's inbox.
EMAILS_PER_ACCOUNT = 3


USED = "This reset link was already used. Each link works once: ask for a new one if you need to."


class ResetRefused(Exception):
    """The link cannot be used; the message says why and is safe to show."""


def request_reset(
    session: Session, email: str, client: str, now: datetime | None = None
) -> tuple[str, Therapist] | None:
    """Record the request; (the new link's token, its therapist) when the address has
    an account with a password, else None. Raises :class:`LoginRefused` (429) when
    this client asked too often, counting every request so the limit is the same for
    addresses with and without an account."""
    now = now or utcnow()
    email = email.strip().lower()[:320]
    tries = session.scalar(
        select(func.count()).where(
            PasswordResetRequest.client == client,
            PasswordResetRequest.at > now - timedelta(minutes=1),
        )
    )
    if tries >= REQUESTS_PER_CLIENT_PER_MINUTE:
        raise LoginRefused("Too many reset requests from here. Wait a minute and try again.", 429)
    session.add(PasswordResetRequest(email=email, client=client[:64], at=now))
    therapist = session.scalar(
        select(Therapist)
        .join(TherapistPassword, TherapistPassword.therapist_id == Therapist.id)
        .where(func.lower(Therapist.email) == email)
    )
    if therapist is None or _links_sent(session, therapist.id, now) >= EMAILS_PER_ACCOUNT:
        session.commit()
        return None
    token = random_token()
    session.add(
        PasswordReset(
            token_digest=token_digest(token),
            therapist_id=therapist.id,
            created_at=now,
            expires_at=now + LINK_LIFETIME,
        )
    )
    session.commit()
    return token, therapist


def _links_sent(session: Session, therapist_id: str, now: datetime) -> int:
    return session.scalar(
        select(func.count()).where(
            PasswordReset.therapist_id == therapist_id,
            PasswordReset.created_at > now - LINK_LIFETIME,
        )
    )


def check_link(session: Session, token: str, now: datetime | None = None) -> None:
    """Raise :class:`ResetRefused` unless ``token`` is a live, unused link."""
    row = session.get(PasswordReset, token_digest(token))
    if row is None:
        raise ResetRefused("This reset link is not one we sent. Check that you opened the "
                           "whole link from the email, or ask for a new one.")  # fmt: skip
    if row.used_at is not None:
        raise ResetRefused(USED)
    if row.expires_at <= (now or utcnow()):
        minutes = int(LINK_LIFETIME.total_seconds() // 60)
        raise ResetRefused(f"This reset link has expired (links last {minutes} minutes). "
                           "Ask for a new one.")  # fmt: skip


def use_link(session: Session, token: str, password: str, now: datetime | None = None) -> str:
    """Replace the password through the link (used up at once, also against a second
    tab racing this one) and end every session of the therapist; returns their id."""
    now = now or utcnow()
    check_link(session, token, now)
    digest = token_digest(token)
    taken = session.execute(
        update(PasswordReset)
        .where(
            PasswordReset.token_digest == digest,
            PasswordReset.used_at.is_(None),
            PasswordReset.expires_at > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        session.rollback()
        raise ResetRefused(USED)
    therapist_id = session.scalar(
        select(PasswordReset.therapist_id).where(PasswordReset.token_digest == digest)
    )
    set_password(session, therapist_id, password)  # also ends every session
    # The other links still in that inbox die with the old password.
    session.execute(
        update(PasswordReset)
        .where(PasswordReset.therapist_id == therapist_id, PasswordReset.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return therapist_id


def reset_email(name: str, link: str) -> Composed:
    minutes = int(LINK_LIFETIME.total_seconds() // 60)
    return Composed(
        subject="Reset your stridewise password",
        text=(
            f"Hello {name},\n\n"
            "Someone (we hope you) asked to reset the password of your stridewise "
            f"account. Open this link within {minutes} minutes to choose a new one:\n\n"
            f"{link}\n\n"
            "The link works once. If you did not ask, ignore this email: your password "
            "stays as it is.\n"
        ),
    )


def send_reset_email(config: DeliveryConfig, name: str, to: str, link: str) -> None:
    """Send at once; raises ``delivery.email`` send errors (nothing is retried)."""
    message = build_email(
        reset_email(name, link),
        config.mail_from,
        to,
        make_msgid(domain=domain_of(config.mail_from)),
    )
    sender = SmtpSender(config.smtp)
    try:
        sender.send(message)
    finally:
        sender.close()
