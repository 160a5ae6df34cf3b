"""The demo's Google Health part: a patient linked to a running sandbox through the
real consent code; the sync engine's cycle then syncs it through the real adapter."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from sqlalchemy.orm import Session, sessionmaker

from adapters.google_health.consent import follow_consent
from ingest.crypto import Cipher
from sandbox.google_health import GoogleSandboxState, create_app, sandbox_settings
from sandbox.serve import serve_in_thread
from stridewise.linking.google import LinkedGoogleAccount, link_google_health
from stridewise.providers import google_config
from stridewise.settings import Settings


@contextmanager
def running_sandbox(seed: int = 7) -> Iterator[tuple[GoogleSandboxState, dict]]:
    """A sandbox on a loopback port; yields its state and the settings that reach it."""
    state = GoogleSandboxState(seed=seed)
    with serve_in_thread(create_app(state)) as base_url:
        yield state, sandbox_settings(base_url, state)


def link_demo_patient(
    factory: sessionmaker[Session], settings: Settings, patient_id: str
) -> LinkedGoogleAccount:
    """Link ``patient_id`` (consent answered by the sandbox). ``settings`` must point
    at the sandbox (see :func:`running_sandbox`)."""
    with httpx.Client(timeout=30.0) as http:
        return link_google_health(
            factory,
            Cipher(settings.secret_key),
            google_config(settings),
            patient_id,
            follow_consent(http),
            http=http,
            login_hint=patient_id,
        )
