"""What the Garmin tests share: a sandbox on loopback and linked patients."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from core.source import AccountRef
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import Therapist
from ingest.patients import add_patient
from sandbox.garmin import GarminSandbox, GarminUser
from sandbox.garmin import sandbox_settings as garmin_hosts
from sandbox.walker import Walker
from stridewise.settings import Settings

# A Tuesday, two days after the US spring-forward (2026-03-08).
NOW = datetime(2026, 3, 10, 15, 7, tzinfo=UTC)


def new_sandbox() -> GarminSandbox:
    return GarminSandbox(walker=Walker(seed=11), clock=lambda: NOW, archive_after_days=20)


def sandbox_settings(base_url: str, secret_key: str, **overrides) -> Settings:
    return Settings(
        database_url="sqlite://", secret_key=secret_key, **garmin_hosts(base_url), **overrides
    )


def new_user(tz: str = "America/New_York", **fields) -> GarminUser:
    name = str(uuid.uuid4())
    return GarminUser(f"{name[:8]}@example.org", "correct horse", name, tz=tz, **fields)


def link_patient(
    factory, cipher: Cipher, sandbox: GarminSandbox, user: GarminUser, patient_tz: str | None = None
) -> AccountRef:
    """A patient linked to ``user`` as a finished ``link garmin`` leaves it."""
    sandbox.add_user(user)
    patient_id = f"P-{user.display_name[:8]}"
    zone = patient_tz or user.tz
    with transaction(factory) as session:
        if session.get(Therapist, "T1") is None:
            session.add(Therapist(id="T1", name="Dr Gait", email="t1@example.org"))
            session.flush()
        add_patient(session, patient_id, "Pat", zone, "T1")
        account = link_account(
            session,
            cipher,
            patient_id,
            "garmin",
            sandbox.issue_tokens(user.display_name),
            external_user_id=user.display_name,
        )
        account_id = account.id
    return AccountRef(account_id, patient_id, "garmin", user.display_name, zone)
