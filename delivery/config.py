"""What delivery needs to know, built from settings by the application layer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Literal, Protocol

from ingest.crypto import Cipher


class PatientLinks(Protocol):
    """Signed, expiring links for a patient's messages. The application makes them
    (the patient portal lives above delivery); each call stores its link at once."""

    def own_data(self, patient_id: str, now: datetime) -> str:
        """The patient's own-data page."""
        ...

    def relink(self, patient_id: str, now: datetime) -> str | None:
        """A relink page for an account whose consent was revoked; None if there is none."""
        ...


@dataclass(frozen=True)
class SmtpConfig:
    host: str = "localhost"
    port: int = 1025
    security: Literal["none", "starttls", "tls"] = "none"
    username: str | None = None
    password: str | None = None
    timeout_s: float = 30.0


@dataclass(frozen=True)
class DeliveryConfig:
    smtp: SmtpConfig
    mail_from: str = "stridewise <noreply@stridewise.localhost>"
    max_attempts: int = 8
    webhook_timeout_s: float = 15.0
    quiet_start: time = time(21, 0)
    quiet_end: time = time(8, 0)
    public_url: str = "http://127.0.0.1:8000"
    # Decrypts webhook secrets; None: webhooks cannot be signed (they fail, with why).
    cipher: Cipher | None = None
    lease_seconds: float = 300.0
    base_backoff_s: float = 60.0
    max_backoff_s: float = 6 * 3600.0
    batch: int = 50
    # Links in every patient message (own data; relink when disconnected); None: none.
    links: PatientLinks | None = None
