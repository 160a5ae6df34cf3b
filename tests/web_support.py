"""Web test support: an app over the test's database, therapists with passwords,
signed-in clients and the CSRF token of a page.

Use from a test module with ``pytest_plugins = ["web_support"]`` (fixtures ``web``
and ``client``) and the helpers below."""

from __future__ import annotations

import re
from datetime import date

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from ingest.db import transaction
from ingest.models import LinkedAccount, Patient, Therapist
from ingest.programme_models import Alert
from rules.messages import THERAPIST, severity
from stridewise.settings import Settings
from stridewise.web.accounts import set_password
from stridewise.web.app import create_app
from stridewise.wiring import App

PASSWORD = "correct horse battery"
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def web_app(db_url: str, secret_key: str, **settings) -> FastAPI:
    return create_app(App(Settings(database_url=db_url, secret_key=secret_key, **settings)))


@pytest.fixture
def web(db_url: str, secret_key: str) -> FastAPI:
    """The web app over the test's freshly migrated database."""
    return web_app(db_url, secret_key)


@pytest.fixture
def client(web: FastAPI) -> TestClient:
    return TestClient(web, follow_redirects=False)


def add_therapist(factory, therapist_id: str, *, password: str = PASSWORD, name=None) -> str:
    """A therapist with a password; returns their email."""
    email = f"{therapist_id.lower()}@clinic.example"
    with transaction(factory) as session:
        session.add(Therapist(id=therapist_id, name=name or f"Therapist {therapist_id}",
                              email=email))  # fmt: skip
        session.flush()
        set_password(session, therapist_id, password)
    return email


def add_patient(factory, patient_id: str, therapist_id: str, name: str | None = None) -> str:
    with transaction(factory) as session:
        session.add(Patient(id=patient_id, name=name or f"Patient {patient_id}",
                            timezone="Europe/London", therapist_id=therapist_id,
                            overrides={}))  # fmt: skip
    return patient_id


def csrf_from(html: str) -> str:
    found = _CSRF.search(html)
    assert found, "the page has no CSRF field"
    return found.group(1)


def page_csrf(client: TestClient, path: str = "/login") -> str:
    """The CSRF token a form on ``path`` carries for this client's browser."""
    return csrf_from(client.get(path).text)


def sign_in(client: TestClient, email: str, password: str = PASSWORD):
    token = page_csrf(client)
    return client.post("/login", data={"email": email, "password": password,
                                       "csrf_token": token})  # fmt: skip


FLARE_FACTS = {"day": "2026-03-18", "score": 7, "kind": "high", "usual": 2.5, "previous": None}
UNDER_FACTS = {"weeks_running": 2, "walks": 1, "walks_planned": 4, "week_start": "2026-03-09"}


def add_alert(factory, patient_id: str, rule: str = "flare", status: str = "open") -> int:
    """A therapist alert as the rules store it (facts, worded by rules.messages)."""
    facts = FLARE_FACTS if rule == "flare" else UNDER_FACTS
    with transaction(factory) as session:
        alert = Alert(patient_id=patient_id, rule=rule, period=f"p-{rule}",
                      period_end=date(2026, 3, 18), audience=THERAPIST,
                      severity=severity(rule, THERAPIST), facts=facts, status=status,
                      raised_on=date(2026, 3, 18))  # fmt: skip
        session.add(alert)
        session.flush()
        return alert.id


def add_account(factory, patient_id: str, status: str = "active", provider="google-health"):
    with transaction(factory) as session:
        session.add(LinkedAccount(patient_id=patient_id, provider=provider, credentials=b"x",
                                  status=status))  # fmt: skip
