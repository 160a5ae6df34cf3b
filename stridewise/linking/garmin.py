"""Linking a patient's Garmin account: one login, then only the tokens are stored."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session, sessionmaker

from adapters.garmin.config import GarminConfig
from adapters.garmin.login import GarminLink, log_in
from adapters.garmin.parse import PROVIDER
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from ingest.patients import get_patient


def link_garmin(
    factory: sessionmaker[Session],
    cipher: Cipher,
    config: GarminConfig,
    patient_id: str,
    email: str,
    password: str,
    mfa_code: Callable[[], str],
) -> GarminLink:
    """Log in and store the tokens on the patient's Garmin link (a relink replaces them).

    The patient is checked first, so a mistake there costs no login attempt
    (Garmin counts them)."""
    with factory() as session:
        get_patient(session, patient_id)
    link = log_in(config, email, password, mfa_code)
    with transaction(factory) as session:
        link_account(
            session, cipher, patient_id, PROVIDER, link.tokens, external_user_id=link.display_name
        )
    return link
