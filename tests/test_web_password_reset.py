"""Password reset by an emailed one-time link, through a real SMTP server on loopback
(aiosmtpd): the link works once and for 30 minutes, replaces the password and ends
every session; an unknown address gets the same answer and no email; the database
holds the link's digest only."""

from __future__ import annotations

import hashlib
import re

from delivery_support import free_port, smtp_server
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from structlog.testing import capture_logs
from web_support import PASSWORD, add_therapist, csrf_from, page_csrf, sign_in, web_app

from core.clock import utcnow
from ingest.access_models import PasswordReset, TherapistSession
from ingest.db import transaction
from ingest.models import Base
from stridewise.web.resets import (
    EMAILS_PER_ACCOUNT,
    LINK_LIFETIME,
    REQUESTS_PER_CLIENT_PER_MINUTE,
    request_reset,
)

PUBLIC = "http://sw.example"
NEW = "a brand new passphrase"
_LINK = re.compile(re.escape(PUBLIC) + r"(/password-reset/[A-Za-z0-9_-]+)")


def _client(db_url, secret_key, port: int) -> TestClient:
    web = web_app(db_url, secret_key, smtp_host="127.0.0.1", smtp_port=port, public_url=PUBLIC,
                  mail_from="stridewise <noreply@clinic.example>")  # fmt: skip
    return TestClient(web, follow_redirects=False)


def _ask(client: TestClient, email: str, csrf: bool = True):
    data = {"email": email}
    if csrf:
        data["csrf_token"] = page_csrf(client, "/password-reset")
    return client.post("/password-reset", data=data)


def _choose(client: TestClient, path: str, password: str, confirm: str | None = None):
    token = csrf_from(client.get("/login").text)
    return client.post(path, data={"password": password, "confirm": confirm or password,
                                   "csrf_token": token})  # fmt: skip


def _link_in(message) -> str:
    found = _LINK.search(message.get_body(("plain",)).get_content())
    assert found, "the email holds no reset link"
    return found.group(1)


def _count(factory, model) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model))


def _everything_stored(engine) -> str:
    with engine.connect() as conn:
        return repr([conn.execute(t.select()).all() for t in Base.metadata.sorted_tables])


def test_the_emailed_link_replaces_the_password_once_and_ends_sessions(
    db_url, secret_key, factory, engine
):
    email = add_therapist(factory, "T1", name="Ana Therapist")
    with smtp_server() as (mailbox, port):
        client = _client(db_url, secret_key, port)
        elsewhere = TestClient(client.app, follow_redirects=False)
        assert sign_in(elsewhere, email).status_code == 303
        assert elsewhere.get("/").status_code == 200

        login = client.get("/login").text
        assert 'href="/password-reset"' in login and "Forgot your password?" in login
        answer = _ask(client, email.upper())
        assert answer.status_code == 200
        assert "If that address has an account, we sent a link" in answer.text
        assert len(mailbox.messages) == 1
    message = mailbox.messages[0]
    assert message["To"] == email and message["From"] == "stridewise <noreply@clinic.example>"
    assert message["Subject"] == "Reset your stridewise password"
    assert "Hello Ana Therapist" in message.get_body(("plain",)).get_content()
    path = _link_in(message)
    token = path.rsplit("/", 1)[1]

    # Only the digest is kept: the token is nowhere in the database, outbox included.
    with factory() as session:
        row = session.scalars(select(PasswordReset)).one()
    assert row.token_digest == hashlib.sha256(token.encode()).hexdigest()
    assert row.expires_at - row.created_at == LINK_LIFETIME
    assert token not in _everything_stored(engine)

    form = client.get(path)
    assert form.status_code == 200 and 'name="confirm"' in form.text
    done = _choose(client, path, NEW)
    assert done.status_code == 200 and 'href="/login"' in done.text

    assert elsewhere.get("/").status_code == 401  # that session was ended
    assert _count(factory, TherapistSession) == 0
    assert sign_in(client, email, PASSWORD).status_code == 401
    assert sign_in(client, email, NEW).status_code == 303

    # Used once: the link is refused from now on and changes nothing.
    again = client.get(path)
    assert again.status_code == 410 and "already used" in again.text
    assert _choose(client, path, "yet another passphrase").status_code == 410
    assert sign_in(TestClient(client.app, follow_redirects=False), email, NEW).status_code == 303


def test_invalid_passwords_are_named_beside_the_field_and_change_nothing(
    db_url, secret_key, factory
):
    email = add_therapist(factory, "T1")
    with smtp_server() as (mailbox, port):
        client = _client(db_url, secret_key, port)
        _ask(client, email)
    path = _link_in(mailbox.messages[0])

    short = _choose(client, path, "too short")
    assert short.status_code == 422
    assert re.search(r'id="f-password-error">A password needs at least 12', short.text)
    differ = _choose(client, path, NEW, NEW + "!")
    assert differ.status_code == 422
    assert re.search(r'id="f-confirm-error">The two passwords are not the same', differ.text)
    assert NEW not in differ.text  # a password is never echoed back

    assert sign_in(TestClient(client.app, follow_redirects=False), email).status_code == 303
    assert _choose(client, path, NEW).status_code == 200  # the link still works


def test_an_expired_link_is_refused(db_url, secret_key, factory):
    email = add_therapist(factory, "T1")
    with transaction(factory) as session:
        token, _ = request_reset(session, email, "elsewhere", utcnow() - LINK_LIFETIME)
    with smtp_server() as (_mailbox, port):
        client = _client(db_url, secret_key, port)
    path = f"/password-reset/{token}"
    page = client.get(path)
    assert page.status_code == 410 and "expired" in page.text
    assert 'href="/password-reset"' in page.text
    assert _choose(client, path, NEW).status_code == 410
    assert sign_in(client, email).status_code == 303


def test_an_unknown_link_is_refused(db_url, secret_key):
    client = _client(db_url, secret_key, free_port())
    page = client.get("/password-reset/not-a-link-we-sent")
    assert page.status_code == 410 and "not one we sent" in page.text


def test_an_unknown_address_gets_the_same_answer_and_no_email(db_url, secret_key, factory):
    email = add_therapist(factory, "T1")
    with smtp_server() as (mailbox, port):
        client = _client(db_url, secret_key, port)
        known = _ask(client, email)
        unknown = _ask(client, "nobody@clinic.example")
    assert (known.status_code, unknown.status_code) == (200, 200)
    without_csrf = re.compile(r'value="[^"]*"')
    assert without_csrf.sub("", known.text) == without_csrf.sub("", unknown.text)
    assert [m["To"] for m in mailbox.messages] == [email]
    assert _count(factory, PasswordReset) == 1


def test_the_request_limit_counts_every_address(db_url, secret_key, factory):
    with smtp_server() as (mailbox, port):
        client = _client(db_url, secret_key, port)
        for n in range(REQUESTS_PER_CLIENT_PER_MINUTE):
            assert _ask(client, f"nobody{n}@clinic.example").status_code == 200
        refused = _ask(client, "nobody@clinic.example")
    assert refused.status_code == 429 and "Too many reset requests" in refused.text
    assert mailbox.messages == []


def test_one_account_gets_a_few_links_at_most_with_the_same_answer(db_url, secret_key, factory):
    email = add_therapist(factory, "T1")
    with smtp_server() as (mailbox, port):
        client = _client(db_url, secret_key, port)
        answers = [_ask(client, email) for _ in range(EMAILS_PER_ACCOUNT + 1)]
    assert {a.status_code for a in answers} == {200}
    assert all("we sent a link" in a.text for a in answers)
    assert len(mailbox.messages) == EMAILS_PER_ACCOUNT


def test_forms_without_the_csrf_token_are_refused(db_url, secret_key, factory):
    email = add_therapist(factory, "T1")
    with smtp_server() as (mailbox, port):
        client = _client(db_url, secret_key, port)
        assert _ask(client, email, csrf=False).status_code == 403
        assert mailbox.messages == [] and _count(factory, PasswordReset) == 0
        _ask(client, email)
    path = _link_in(mailbox.messages[0])
    refused = client.post(path, data={"password": NEW, "confirm": NEW})
    assert refused.status_code == 403
    assert sign_in(client, email).status_code == 303
    assert client.get(path).status_code == 200  # not used up


def test_a_failed_send_is_logged_without_the_link(db_url, secret_key, factory):
    email = add_therapist(factory, "T1")
    client = _client(db_url, secret_key, free_port())  # nothing listens there
    with capture_logs() as logs:
        answer = _ask(client, email)
        client.get("/password-reset/not-a-link-we-sent")
    assert answer.status_code == 200 and "we sent a link" in answer.text
    assert [e["event"] for e in logs if e["event"].startswith("password_reset")] == [
        "password_reset.not_sent"
    ]
    with factory() as session:
        digest = session.scalar(select(PasswordReset.token_digest))
    assert digest and "password-reset/" not in repr(logs)
