"""Linking a patient's Google Health account from the CLI: consent on a loopback
redirect, then the stored (encrypted) link."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.google_health.config import GoogleHealthConfig
from adapters.google_health.consent import GoogleIdentity, read_identity, run_consent
from core.errors import StridewiseError
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from ingest.patients import check_timezone, get_patient

PROVIDER = "google-health"


@dataclass(frozen=True, slots=True)
class LinkedGoogleAccount:
    account_id: int
    health_user_id: str
    timezone: str | None


def store_link(
    factory: sessionmaker[Session],
    cipher: Cipher,
    patient_id: str,
    credentials: dict,
    identity: GoogleIdentity,
) -> LinkedGoogleAccount:
    """Store the link (and the patient's zone if it was unset)."""
    with transaction(factory) as session:
        patient = get_patient(session, patient_id)
        if patient.timezone is None and identity.timezone:
            # An unknown zone name leaves the patient's zone for a person to set.
            with suppress(StridewiseError):
                patient.timezone = check_timezone(identity.timezone)
        account = link_account(
            session, cipher, patient_id, PROVIDER, credentials, identity.health_user_id
        )
        return LinkedGoogleAccount(account.id, identity.health_user_id, patient.timezone)


def link_google_health(
    factory: sessionmaker[Session],
    cipher: Cipher,
    config: GoogleHealthConfig,
    patient_id: str,
    open_url: Callable[[str], None],
    http: httpx.Client | None = None,
    port: int = 0,
    login_hint: str | None = None,
) -> LinkedGoogleAccount:
    """The whole link: consent, code exchange, identity and settings, stored link."""
    with factory() as session:
        get_patient(session, patient_id)  # fail before the consent round trip
    client = http or httpx.Client(timeout=30.0)
    try:
        credentials = run_consent(config, open_url, client, port, login_hint)
        identity = read_identity(config, client, credentials)
        return store_link(factory, cipher, patient_id, credentials, identity)
    finally:
        if http is None:
            client.close()
