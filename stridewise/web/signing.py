"""HMAC signing for cookies and form tokens, keyed from the deployment's secret.

The signing key is derived from the first ``STRIDEWISE_SECRET_KEY`` (the Fernet key
that encrypts credentials) with a purpose label, so no second secret has to be
managed, and rotating the key signs everyone out."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

from pydantic import SecretStr

from core.errors import MissingSecretKey


def signing_key(secret_key: SecretStr | None, purpose: str = "web") -> bytes:
    if secret_key is None or not secret_key.get_secret_value().strip():
        raise MissingSecretKey()
    first = secret_key.get_secret_value().split(",")[0].strip().encode()
    return hmac.new(first, f"stridewise/{purpose}".encode(), hashlib.sha256).digest()


def _mac(key: bytes, message: str) -> str:
    digest = hmac.new(key, message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def sign(key: bytes, value: str, now: float | None = None) -> str:
    """``value.timestamp.mac``: ``value`` must not contain a dot."""
    stamped = f"{value}.{int(now if now is not None else time.time())}"
    return f"{stamped}.{_mac(key, stamped)}"


def unsign(key: bytes, signed: str, max_age_s: float, now: float | None = None) -> str | None:
    """The value, or None when forged, malformed or older than ``max_age_s``."""
    value, _, rest = signed.partition(".")
    stamp, _, mac = rest.partition(".")
    if not (value and stamp.isdigit() and mac):
        return None
    if not hmac.compare_digest(mac, _mac(key, f"{value}.{stamp}")):
        return None
    age = (now if now is not None else time.time()) - int(stamp)
    return value if 0 <= age <= max_age_s else None


def random_token() -> str:
    """32 random bytes, URL-safe, dot-free (fits in :func:`sign`)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """What is stored of a bearer secret (session ids, API tokens): never the secret."""
    return hashlib.sha256(token.encode()).hexdigest()


def form_token(key: bytes, secret: str) -> str:
    """The CSRF token for a form, bound to the browser's CSRF cookie secret."""
    return _mac(key, f"csrf:{secret}")
