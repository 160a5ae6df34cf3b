"""Therapists' credentials: argon2 passwords, browser sessions that expire, the
sign-in rate limit and lock-out, and API tokens (shown once, stored as digests)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from core.clock import utcnow
from core.errors import NotFound, StridewiseError
from ingest.access_models import ApiToken, LoginAttempt, TherapistPassword, TherapistSession
from ingest.models import Therapist
from stridewise.web.signing import random_token, token_digest

MIN_PASSWORD_LENGTH = 12
# Sign-in tries one address may make per minute, whatever the accounts.
ATTEMPTS_PER_CLIENT_PER_MINUTE = 20
TOKEN_PREFIX = "swt_"

_hasher = PasswordHasher()
# Verified when the email is unknown, so a miss takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not a password of anyone's")


def check_password_strength(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise StridewiseError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    if password.strip() != password:
        raise StridewiseError("a password must not start or end with spaces")
    return password


def set_password(session: Session, therapist_id: str, password: str) -> None:
    """Store a new argon2 hash; signs the therapist out everywhere."""
    if session.get(Therapist, therapist_id) is None:
        raise NotFound(f"no therapist {therapist_id!r} (see 'stridewise therapist add')")
    hashed = _hasher.hash(check_password_strength(password))
    row = session.get(TherapistPassword, therapist_id)
    if row is None:
        session.add(TherapistPassword(therapist_id=therapist_id, password_hash=hashed))
    else:
        row.password_hash, row.updated_at = hashed, utcnow()
    session.execute(delete(TherapistSession).where(TherapistSession.therapist_id == therapist_id))


@dataclass(frozen=True)
class LoginPolicy:
    max_failures: int
    lockout: timedelta
    session_length: timedelta


class LoginRefused(StridewiseError):
    """Sign-in refused; the message is safe to show (it never says which part was wrong)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.status = status


def _locked_until(session: Session, email: str, policy: LoginPolicy, now: datetime):
    """When the account's lock-out ends, if the last ``max_failures`` tries all failed
    and the newest of them is recent."""
    recent = session.execute(
        select(LoginAttempt.succeeded, LoginAttempt.at)
        .where(LoginAttempt.email == email, LoginAttempt.at > now - policy.lockout)
        .order_by(LoginAttempt.at.desc(), LoginAttempt.id.desc())
        .limit(policy.max_failures)
    ).all()
    if len(recent) == policy.max_failures and not any(ok for ok, _ in recent):
        return recent[0][1] + policy.lockout
    return None


def sign_in(
    session: Session,
    email: str,
    password: str,
    client: str,
    policy: LoginPolicy,
    now: datetime | None = None,
) -> tuple[str, Therapist]:
    """Check the password and open a session: (session id for the cookie, therapist).
    Every try is recorded; raises :class:`LoginRefused` (401, or 429 when rate
    limited or locked out)."""  # fmt: skip
    now = now or utcnow()
    email = email.strip().lower()
    tries = session.scalar(
        select(func.count()).where(
            LoginAttempt.client == client, LoginAttempt.at > now - timedelta(minutes=1)
        )
    )
    if tries >= ATTEMPTS_PER_CLIENT_PER_MINUTE:
        raise LoginRefused("Too many sign-in attempts from here. Wait a minute and try again.", 429)
    locked = _locked_until(session, email, policy, now)
    if locked is not None:
        minutes = max(1, round((locked - now).total_seconds() / 60))
        raise LoginRefused(
            f"This account is locked after {policy.max_failures} failed sign-ins. "
            f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.", 429,
        )  # fmt: skip
    found = session.execute(
        select(Therapist, TherapistPassword.password_hash)
        .join(TherapistPassword, TherapistPassword.therapist_id == Therapist.id)
        .where(func.lower(Therapist.email) == email)
    ).first()
    try:
        _hasher.verify(found[1] if found else _DUMMY_HASH, password)
        ok = found is not None
    except (VerificationError, InvalidHashError):
        ok = False
    session.add(LoginAttempt(email=email[:320], client=client[:64], at=now, succeeded=ok))
    if not ok:
        session.commit()
        raise LoginRefused("That email and password do not match an account.")
    therapist = found[0]
    if _hasher.check_needs_rehash(found[1]):
        session.get(TherapistPassword, therapist.id).password_hash = _hasher.hash(password)
    token = random_token()
    session.add(
        TherapistSession(
            id_digest=token_digest(token),
            therapist_id=therapist.id,
            created_at=now,
            expires_at=now + policy.session_length,
        )
    )
    session.commit()
    return token, therapist


def session_therapist(session: Session, token: str, now: datetime | None = None):
    """The therapist a browser session belongs to, or None when unknown or expired."""
    return session.scalar(
        select(Therapist)
        .join(TherapistSession, TherapistSession.therapist_id == Therapist.id)
        .where(
            TherapistSession.id_digest == token_digest(token),
            TherapistSession.expires_at > (now or utcnow()),
        )
    )


def sign_out(session: Session, token: str) -> None:
    session.execute(
        delete(TherapistSession).where(TherapistSession.id_digest == token_digest(token))
    )
    session.commit()


def create_api_token(session: Session, therapist_id: str, name: str) -> tuple[str, ApiToken]:
    """A new bearer token: the secret (shown once, never stored) and its row."""
    if session.get(Therapist, therapist_id) is None:
        raise NotFound(f"no therapist {therapist_id!r} (see 'stridewise therapist add')")
    secret = TOKEN_PREFIX + random_token()
    row = ApiToken(therapist_id=therapist_id, name=name, token_digest=token_digest(secret))
    session.add(row)
    session.flush()
    return secret, row


def revoke_api_token(session: Session, token_id: int, now: datetime | None = None) -> ApiToken:
    row = session.get(ApiToken, token_id)
    if row is None:
        raise NotFound(f"no API token {token_id} (see 'stridewise api-token list')")
    row.revoked_at = row.revoked_at or now or utcnow()
    return row


def token_therapist(session: Session, secret: str, now: datetime | None = None):
    """The therapist a live bearer token belongs to (noting its use), or None."""
    now = now or utcnow()
    found = session.execute(
        select(ApiToken.id, Therapist)
        .join(Therapist, Therapist.id == ApiToken.therapist_id)
        .where(ApiToken.token_digest == token_digest(secret), ApiToken.revoked_at.is_(None))
    ).first()
    if found is None:
        return None
    session.execute(update(ApiToken).where(ApiToken.id == found[0]).values(last_used_at=now))
    session.commit()
    return found[1]
