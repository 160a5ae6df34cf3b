"""``POST /webhooks/google-health``: the verification handshake, the shared secret
(constant time), the optional signature, duplicates, unknown users, malformed
bodies, the 100 ms answer, and the sandbox's push reaching a sync."""

from __future__ import annotations

import base64
import json
import statistics
import time
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from portal_support import WEBHOOK_SECRET, add_people
from sqlalchemy import select, update

from adapters.google_health.auth import SCOPES
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import LinkedAccount, StepIntervalRow
from ingest.portal_models import WebhookReceipt
from sandbox.google_health import GoogleSandboxState, create_app, sandbox_settings
from sandbox.google_push import GooglePusher
from sandbox.serve import serve_in_thread
from stridewise.settings import Settings
from stridewise.web.app import create_app as web_app
from stridewise.wiring import App, run_cycle

PATH = "/webhooks/google-health"
FAR_FUTURE = datetime(2100, 1, 1, tzinfo=UTC)


def notification(user_id: str, start: str = "2026-03-01T10:00:00Z") -> dict:
    return {
        "data": {
            "version": "1",
            "healthUserId": user_id,
            "operation": "UPSERT",
            "dataType": "steps",
            "intervals": [
                {"physicalTimeInterval": {"startTime": start, "endTime": "2026-03-01T11:00:00Z"}}
            ],
        }
    }


@pytest.fixture
def linked(factory, secret_key):
    """P1 linked to Google user 4242 and P2 to 777, neither due."""
    add_people(factory, "P1", "P2")
    cipher = Cipher(secret_key)
    with transaction(factory) as session:
        for patient, user in (("P1", "4242"), ("P2", "777")):
            link_account(session, cipher, patient, "google-health", {"token": "t"}, user)
        session.execute(update(LinkedAccount).values(next_sync_due=FAR_FUTURE))
    return factory


def settings(db_url: str, secret_key: str, **extra) -> Settings:
    return Settings(
        database_url=db_url, secret_key=secret_key, google_webhook_secret=WEBHOOK_SECRET, **extra
    )


@pytest.fixture
def client(db_url, secret_key, linked):
    with TestClient(web_app(App(settings(db_url, secret_key)))) as client:
        yield client


def due(factory) -> dict[str, datetime | None]:
    with factory() as session:
        rows = session.execute(select(LinkedAccount.patient_id, LinkedAccount.next_sync_due))
        return {patient: when for patient, when in rows}


def test_verification_handshake(client):
    body = {"type": "verification"}
    assert (
        client.post(PATH, json=body, headers={"Authorization": WEBHOOK_SECRET}).status_code == 201
    )
    assert client.post(PATH, json=body).status_code == 401
    assert client.post(PATH, json=body, headers={"Authorization": "guess"}).status_code == 403


def test_a_notification_marks_only_that_users_account_due(client, linked):
    answer = client.post(PATH, json=notification("4242"), headers={"Authorization": WEBHOOK_SECRET})
    assert answer.status_code == 200 and answer.json() == {"accounts_marked": 1}
    marked = due(linked)
    assert marked["P1"] < FAR_FUTURE and marked["P2"] == FAR_FUTURE


def test_a_forged_secret_marks_nothing(client, linked):
    for headers in ({}, {"Authorization": WEBHOOK_SECRET + "x"}, {"Authorization": "Bearer no"}):
        assert client.post(PATH, json=notification("4242"), headers=headers).status_code in (
            401,
            403,
        )
    assert set(due(linked).values()) == {FAR_FUTURE}


def test_duplicates_are_acted_on_once(client, linked):
    headers = {"Authorization": WEBHOOK_SECRET}
    first = client.post(PATH, json=notification("4242"), headers=headers)
    with transaction(linked) as session:
        session.execute(update(LinkedAccount).values(next_sync_due=FAR_FUTURE))
    again = client.post(PATH, json=notification("4242"), headers=headers)
    assert first.json() == {"accounts_marked": 1} and again.json() == {"accounts_marked": 0}
    assert set(due(linked).values()) == {FAR_FUTURE}
    other = client.post(PATH, json=notification("4242", "2026-03-02T10:00:00Z"), headers=headers)
    assert other.json() == {"accounts_marked": 1}


def test_an_unknown_user_is_acknowledged_and_marks_nothing(client, linked):
    answer = client.post(PATH, json=notification("999"), headers={"Authorization": WEBHOOK_SECRET})
    assert answer.status_code == 200 and answer.json() == {"accounts_marked": 0}
    assert set(due(linked).values()) == {FAR_FUTURE}


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        json.dumps({"data": {"healthUserId": "4242"}}).encode(),
        json.dumps({"data": {**notification("4242")["data"], "healthUserId": ""}}).encode(),
        json.dumps({"data": {**notification("4242")["data"], "intervals": "all"}}).encode(),
    ],
)
def test_a_malformed_body_is_422_and_marks_nothing(client, linked, body):
    answer = client.post(PATH, content=body, headers={"Authorization": WEBHOOK_SECRET})
    assert answer.status_code == 422
    assert set(due(linked).values()) == {FAR_FUTURE}
    with linked() as session:
        assert session.scalars(select(WebhookReceipt)).all() == []


def test_the_answer_comes_within_100_ms(client):
    headers = {"Authorization": WEBHOOK_SECRET}
    client.post(PATH, json=notification("4242", "2026-01-01T00:00:00Z"), headers=headers)
    timings = []
    for n in range(20):
        body = notification("4242", f"2026-02-{n + 1:02d}T00:00:00Z")
        started = time.perf_counter()
        assert client.post(PATH, json=body, headers=headers).status_code == 200
        timings.append(time.perf_counter() - started)
    assert statistics.median(timings) < 0.1 and max(timings) < 0.5


def test_the_signature_is_checked_when_a_key_is_configured(db_url, secret_key, linked):
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    app = App(settings(db_url, secret_key, google_webhook_public_key=pem.decode()))
    body = json.dumps(notification("4242")).encode()
    good = base64.b64encode(key.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    forger = ec.generate_private_key(ec.SECP256R1())
    bad = base64.b64encode(forger.sign(body, ec.ECDSA(hashes.SHA256()))).decode()
    with TestClient(web_app(app)) as client:
        auth = {"Authorization": WEBHOOK_SECRET}
        assert client.post(PATH, content=body, headers=auth).status_code == 401
        signed_badly = {**auth, "X-HEALTHAPI-SIGNATURE": bad}
        assert client.post(PATH, content=body, headers=signed_badly).status_code == 401
        assert set(due(linked).values()) == {FAR_FUTURE}
        signed = {**auth, "GOOGLE-HEALTH-API-SIGNATURE": good}
        assert client.post(PATH, content=body, headers=signed).json() == {"accounts_marked": 1}


def test_without_a_configured_secret_nothing_is_accepted(db_url, secret_key, linked):
    app = App(Settings(database_url=db_url, secret_key=secret_key))
    with TestClient(web_app(app)) as client:
        answer = client.post(PATH, json={"type": "verification"}, headers={"Authorization": "x"})
        assert answer.status_code == 503


@pytest.mark.slow
def test_the_sandbox_push_leads_to_a_sync(db_url, secret_key, factory):
    """Sandbox data changes -> push -> receiver -> account due -> the next cycle syncs it."""
    add_people(factory, "P1")
    now = datetime.now(UTC)
    google = GoogleSandboxState()
    user = google.add_user("walker", uploaded_through=now - timedelta(days=2))
    with serve_in_thread(create_app(google)) as google_url:
        base = settings(db_url, secret_key, sync_backfill_days=5, sync_jitter_seconds=0,
                        **sandbox_settings(google_url, google))  # fmt: skip
        app = App(base)
        with transaction(factory) as session:
            tokens = {**_tokens(google, base), "scopes": list(SCOPES)}
            link_account(session, app.cipher, "P1", "google-health", tokens, user.health_user_id)
        first = run_cycle(app.factory, base, "test")
        assert first.outcomes["success"] == 1
        assert run_cycle(app.factory, base, "test").results == []  # nothing due: polling waits
        stored_before = _stored(factory)
        with serve_in_thread(web_app(app)) as web_url:
            pusher = GooglePusher(google, web_url + PATH, WEBHOOK_SECRET)
            assert pusher.upload("walker", now) == 200
        assert due(factory)["P1"] <= datetime.now(UTC)
        after = run_cycle(app.factory, base, "test")
        assert after.outcomes["success"] == 1
        assert _stored(factory) > stored_before


def _tokens(google: GoogleSandboxState, base: Settings) -> dict:
    issued = google.issue_tokens("walker")
    return {
        "token": issued["access_token"],
        "refresh_token": issued["refresh_token"],
        "token_uri": base.google_oauth_token_url,
        "client_id": base.google_client_id,
        "client_secret": base.google_client_secret.get_secret_value(),
        "expiry": (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat() + "Z",
    }


def _stored(factory) -> int:
    with factory() as session:
        return len(session.scalars(select(StepIntervalRow.start_utc)).all())
