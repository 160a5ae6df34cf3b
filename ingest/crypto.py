"""Encryption at rest for provider credentials (MultiFernet, so keys rotate:
the first key encrypts, every listed key decrypts)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from core.errors import MissingSecretKey, StridewiseError


def generate_key() -> str:
    return Fernet.generate_key().decode()


class Cipher:
    def __init__(self, secret_key: SecretStr | str | None) -> None:
        raw = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        if not raw:
            raise MissingSecretKey()
        try:
            self._fernet = MultiFernet([Fernet(k.strip()) for k in raw.split(",") if k.strip()])
        except ValueError as err:
            raise StridewiseError(
                "STRIDEWISE_SECRET_KEY must be one or more comma-separated Fernet keys"
            ) from err

    def encrypt_json(self, data: dict) -> bytes:
        return self._fernet.encrypt(json.dumps(data, separators=(",", ":")).encode())

    def decrypt_json(self, token: bytes) -> dict:
        try:
            return json.loads(self._fernet.decrypt(token))
        except InvalidToken as err:
            raise StridewiseError(
                "stored credentials cannot be decrypted with STRIDEWISE_SECRET_KEY "
                "(was the key changed without keeping the old one?)"
            ) from err

    def rotate(self, token: bytes) -> bytes:
        """Re-encrypt under the first (newest) key."""
        return self._fernet.rotate(token)
