"""What the portal tests share: both provider sandboxes on loopback, an App wired to
them and a database, the web app, and the small moves a browser makes (CSRF field,
following Google's consent)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
from fastapi.testclient import TestClient

from ingest.db import transaction
from ingest.models import Therapist
from ingest.patients import add_patient
from sandbox.garmin import GarminSandbox
from sandbox.garmin import sandbox_settings as garmin_hosts
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import sandbox_settings as google_hosts
from stridewise.portal.data_links import create_data_link
from stridewise.portal.invitations import create_invitation
from stridewise.settings import Settings
from stridewise.web.app import create_app
from stridewise.wiring import App

PUBLIC_URL = "http://127.0.0.1:8000"
WEBHOOK_SECRET = "push-secret-for-tests"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Sandboxes:
    google: GoogleSandboxState
    google_url: str
    garmin: GarminSandbox
    garmin_url: str


def portal_settings(db_url: str, secret_key: str, boxes: Sandboxes, **extra) -> Settings:
    values = {
        "database_url": db_url,
        "secret_key": secret_key,
        "public_url": PUBLIC_URL,
        "google_webhook_secret": WEBHOOK_SECRET,
        "sync_backfill_days": 10,
        "sync_jitter_seconds": 0,
        **google_hosts(boxes.google_url, boxes.google),
        **garmin_hosts(boxes.garmin_url),
    }
    return Settings(**{**values, **extra})


def web_client(app: App) -> TestClient:
    return TestClient(create_app(app), base_url=PUBLIC_URL, follow_redirects=False)


def add_people(factory, *patients: str) -> None:
    with transaction(factory) as session:
        if session.get(Therapist, "T1") is None:
            session.add(Therapist(id="T1", name="Dr Gait", email="t1@example.org"))
            session.flush()
        for patient in patients:
            add_patient(session, patient, f"Patient {patient}", None, "T1")


def invite(factory, patient: str, provider: str | None = None, days: int = 7) -> str:
    with transaction(factory) as session:
        return create_invitation(session, patient, days, "T1", provider).token


def data_link(factory, patient: str, days: int = 7) -> str:
    with transaction(factory) as session:
        return create_data_link(session, patient, days)


def csrf(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "the page has no CSRF field"
    return match.group(1)


def consent(start: httpx.Response) -> str:
    """Follow the redirect to the Google sandbox's consent, which answers at once;
    returns the callback path and query it redirects the browser to."""
    assert start.status_code == 303, start.text
    answer = httpx.get(start.headers["location"], follow_redirects=False)
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    assert location.startswith(PUBLIC_URL + "/link/google-health/callback?")
    return location[len(PUBLIC_URL) :]


def now() -> datetime:
    return datetime.now(UTC)
