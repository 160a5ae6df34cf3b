"""Linking Garmin from the browser: the password form, then (when Garmin emails a
code) the code form, resumed from garminconnect's state kept encrypted for ten
minutes. The password is used once and kept nowhere; only tokens are stored."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from adapters.garmin.login import GarminLink
from adapters.garmin.parse import PROVIDER
from adapters.garmin.web_login import GarminLoginError, NeedsCode, finish_login, start_login
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from stridewise.portal.invitations import check_usable
from stridewise.portal.linking import invitation, spend, take_pending
from stridewise.portal.pending import drop_pending, save_pending
from stridewise.providers import garmin_config
from stridewise.settings import Settings

MAX_CODE_ATTEMPTS = 3


@dataclass(frozen=True, slots=True)
class CodeNeeded:
    key: str  # goes back to the browser in the code form; finds the pending login


def _store(
    factory: sessionmaker[Session], cipher: Cipher, invitation_id: int, link: GarminLink
) -> None:
    with transaction(factory) as session:
        patient_id = invitation(session, invitation_id).patient_id
        link_account(session, cipher, patient_id, PROVIDER, link.tokens, link.display_name)
    spend(factory, invitation_id, PROVIDER)


def start(
    factory: sessionmaker[Session],
    settings: Settings,
    invitation_id: int,
    email: str,
    password: str,
) -> CodeNeeded | None:
    """The password step: None when linked at once, else where to ask for the code."""
    with factory() as session:
        check_usable(invitation(session, invitation_id))
    cipher = Cipher(settings.secret_key)
    result = start_login(garmin_config(settings), email.strip(), password)
    if isinstance(result, NeedsCode):
        with transaction(factory) as session:
            return CodeNeeded(save_pending(session, cipher, invitation_id, PROVIDER, result.state))
    _store(factory, cipher, invitation_id, result)
    return None


def finish(
    factory: sessionmaker[Session], settings: Settings, invitation_id: int, key: str, code: str
) -> None:
    """The code step; a wrong code may be typed again, up to :data:`MAX_CODE_ATTEMPTS`."""
    cipher = Cipher(settings.secret_key)
    with transaction(factory) as session:
        row, state = take_pending(session, cipher, key, PROVIDER, invitation_id)
        check_usable(invitation(session, invitation_id))
        row.attempts += 1
        last_try = row.attempts >= MAX_CODE_ATTEMPTS
    try:
        link = finish_login(garmin_config(settings), state, code)
    except GarminLoginError as err:
        if err.reason != "wrong_code" or last_try:
            with transaction(factory) as session:
                drop_pending(session, key)
        raise
    with transaction(factory) as session:
        drop_pending(session, key)
    _store(factory, cipher, invitation_id, link)
