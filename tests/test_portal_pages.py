"""The patient pages through FastAPI's client, against both provider sandboxes over
real HTTP: invitations, Google's consent round trip, Garmin's password and code
forms, the confirmation with the first sync, relinking, and each refusal (a clear
page, nothing stored)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from portal_support import (
    PUBLIC_URL,
    Sandboxes,
    add_people,
    consent,
    csrf,
    invite,
    portal_settings,
    web_client,
)
from sqlalchemy import select, update

from ingest.db import transaction
from ingest.models import LinkedAccount, LinkStatus
from ingest.portal_models import Invitation, PendingLogin
from sandbox.garmin import GarminUser
from sandbox.garmin import create_app as garmin_app
from sandbox.garmin_state import GarminSandbox
from sandbox.google_health import SETTINGS_SCOPE, GoogleSandboxState
from sandbox.google_health import create_app as google_app
from sandbox.serve import serve_in_thread
from stridewise.wiring import App


@pytest.fixture(scope="module")
def boxes():
    google, garmin = GoogleSandboxState(), GarminSandbox()
    with (
        serve_in_thread(google_app(google)) as google_url,
        serve_in_thread(garmin_app(garmin)) as garmin_url,
    ):
        yield Sandboxes(google, google_url, garmin, garmin_url)


@pytest.fixture
def app(db_url, secret_key, boxes, factory):
    add_people(factory, "P1", "P2")
    boxes.google.withheld_scopes.clear()
    boxes.garmin.rate_limit_logins = False
    return App(portal_settings(db_url, secret_key, boxes))


@pytest.fixture
def client(app):
    with web_client(app) as client:
        yield client


def accounts(factory, patient="P1") -> list[LinkedAccount]:
    with factory() as session:
        query = select(LinkedAccount).where(LinkedAccount.patient_id == patient)
        return list(session.scalars(query))


def wait_for_sync(client, timeout_s: float = 30) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        progress = client.get("/link/progress").json()
        if progress["state"] in ("done", "failed"):
            return progress
        time.sleep(0.2)
    raise AssertionError("the first sync did not finish")


def start_google(client, page):
    return client.post("/link/google-health/start", data={"csrf_token": csrf(page.text)})


def open_invitation(client, factory, patient="P1", provider=None):
    page = client.get(f"/{'relink' if provider else 'invite'}/{invite(factory, patient, provider)}")
    assert page.status_code == 200, page.text
    return page


# -- invitations ------------------------------------------------------------------
def test_an_invitation_offers_both_providers(client, factory):
    page = open_invitation(client, factory)
    assert "Link with Google" in page.text and "Link Garmin" in page.text
    assert "sw_link" in page.cookies


@pytest.mark.parametrize(
    ("change", "status", "words"),
    [
        ({"expires_at": "past"}, 410, "expired"),
        ({"used_at": "now"}, 410, "already been used"),
        ({"revoked_at": "now"}, 410, "withdrawn"),
    ],
)
def test_a_spent_invitation_gets_a_clear_page_and_changes_nothing(
    client, factory, change, status, words
):
    token = invite(factory, "P1")
    moment = {"past": -timedelta(days=1), "now": timedelta(0)}
    with transaction(factory) as session:
        row = session.scalars(select(Invitation)).one()
        for column, when in change.items():
            setattr(row, column, row.created_at + moment[when])
        before = (row.used_at, row.revoked_at, row.expires_at)
    page = client.get(f"/invite/{token}")
    assert page.status_code == status
    assert words in page.text
    assert "sw_link" not in page.cookies
    with factory() as session:
        row = session.scalars(select(Invitation)).one()
        assert (row.used_at, row.revoked_at, row.expires_at) == before
    assert accounts(factory) == []


def test_a_forged_invitation_is_not_found(client, factory):
    invite(factory, "P1")
    page = client.get("/invite/" + "A" * 43)
    assert page.status_code == 404
    assert "not valid" in page.text


def test_link_pages_without_an_invitation_say_to_open_it_again(client):
    page = client.get("/link/garmin")
    assert page.status_code == 400
    assert "Open your invitation link again" in page.text


def test_the_own_data_page_needs_a_finished_link(client, factory):
    page = open_invitation(client, factory)
    early = client.post("/link/my-data", data={"csrf_token": csrf(page.text)})
    assert early.status_code == 400


def test_forms_without_the_csrf_field_are_refused(client, factory):
    open_invitation(client, factory)
    answer = client.post("/link/google-health/start")
    assert answer.status_code == 403
    assert "did not come from stridewise" in answer.text


def test_invitation_lookups_are_rate_limited(client):
    statuses = [client.get(f"/invite/guess{n}").status_code for n in range(31)]
    assert statuses[:30] == [404] * 30
    assert statuses[30] == 429


# -- Google Health ---------------------------------------------------------------
def test_google_link_stores_the_account_and_shows_the_first_sync(client, factory, boxes):
    page = open_invitation(client, factory)
    callback = consent(start_google(client, page))
    done = client.get(callback)
    assert done.status_code == 303 and done.headers["location"] == "/link/done"
    [account] = accounts(factory)
    assert account.provider == "google-health" and account.status == LinkStatus.ACTIVE.value
    with factory() as session:
        assert session.scalars(select(Invitation)).one().used_at is not None
        assert session.scalars(select(PendingLogin)).all() == []
    progress = wait_for_sync(client)
    assert progress["state"] == "done" and progress["days"] > 0
    assert progress["timezone"] == "Europe/London"  # learned from the Google settings
    page = client.get("/link/done")
    assert "Fitbit or Pixel Watch (Google)" in page.text
    assert "Charge 6" in page.text and "Europe/London" in page.text
    assert f"{progress['days']} days of steps received" in page.text
    mine = client.post("/link/my-data", data={"csrf_token": csrf(page.text)})
    assert mine.status_code == 303 and mine.headers["location"].startswith("/me/")
    assert client.get(mine.headers["location"]).status_code == 200


def test_a_replayed_google_callback_stores_nothing_more(client, factory):
    page = open_invitation(client, factory)
    callback = consent(start_google(client, page))
    assert client.get(callback).status_code == 303
    with transaction(factory) as session:  # even a fresh invitation cannot reuse it
        session.execute(update(LinkedAccount).values(credentials_version=99))
    replay = client.get(callback)
    assert replay.status_code == 400
    assert "Start again" in replay.text
    [account] = accounts(factory)
    assert account.credentials_version == 99


def test_a_callback_for_another_browsers_invitation_is_refused(app, factory):
    with web_client(app) as victim, web_client(app) as attacker:
        page = open_invitation(attacker, factory, "P2")
        start = attacker.post("/link/google-health/start", data={"csrf_token": csrf(page.text)})
        callback = consent(start)
        open_invitation(victim, factory, "P1")
        refused = victim.get(callback)
        assert refused.status_code == 400
    assert accounts(factory, "P1") == [] and accounts(factory, "P2") == []


def test_denied_consent_stores_nothing(client, factory):
    page = open_invitation(client, factory)
    callback = consent(start_google(client, page))
    state = callback.split("state=")[1].split("&")[0]
    denied = client.get(f"/link/google-health/callback?error=access_denied&state={state}")
    assert denied.status_code == 400
    assert "did not give stridewise access" in denied.text
    assert accounts(factory) == []


def test_missing_scopes_store_nothing_and_end_the_grant(client, factory, boxes):
    boxes.google.withheld_scopes.add(SETTINGS_SCOPE)
    grants = len(boxes.google.refresh)
    page = open_invitation(client, factory)
    callback = consent(start_google(client, page))
    refused = client.get(callback)
    assert refused.status_code == 400
    assert "tick every box" in refused.text
    assert accounts(factory) == []
    assert len(boxes.google.refresh) <= grants  # the token Google issued was revoked


# -- Garmin ------------------------------------------------------------------------
def garmin_user(boxes, mfa_code: str | None = "424242") -> GarminUser:
    name = f"walker-{len(boxes.garmin.users)}"
    return boxes.garmin.add_user(
        GarminUser(f"{name}@example.org", "correct horse", name, "Europe/Berlin", mfa_code)
    )


def garmin_form(client, factory, provider=None):
    open_invitation(client, factory, provider=provider)
    form = client.get("/link/garmin")
    assert form.status_code == 200
    return csrf(form.text)


def send_code(client, token: str, key: str, code: str):
    return client.post("/link/garmin/code", data={"csrf_token": token, "key": key, "code": code})


def test_garmin_with_password_and_code(client, factory, boxes, secret_key):
    user = garmin_user(boxes)
    token = garmin_form(client, factory)
    code_page = client.post(
        "/link/garmin", data={"csrf_token": token, "email": user.email, "password": user.password}
    )
    assert code_page.status_code == 200 and "Enter the code from Garmin" in code_page.text
    assert user.password not in code_page.text
    with factory() as session:
        [pending] = session.scalars(select(PendingLogin)).all()
        assert user.password.encode() not in pending.payload
        assert (pending.expires_at - pending.created_at) == timedelta(minutes=10)
    key = code_page.text.split('name="key" value="')[1].split('"')[0]
    wrong = send_code(client, token, key, "111111")
    assert wrong.status_code == 400 and "did not accept that code" in wrong.text
    assert accounts(factory) == []
    done = send_code(client, token, key, "424242")
    assert done.status_code == 303
    [account] = accounts(factory)
    assert account.provider == "garmin" and account.external_user_id == user.display_name
    with factory() as session:
        assert session.scalars(select(PendingLogin)).all() == []
    assert wait_for_sync(client)["state"] == "done"
    assert "Garmin" in client.get("/link/done").text


def test_garmin_without_a_code_links_at_once(client, factory, boxes):
    user = garmin_user(boxes, mfa_code=None)
    token = garmin_form(client, factory)
    done = client.post(
        "/link/garmin", data={"csrf_token": token, "email": user.email, "password": user.password}
    )
    assert done.status_code == 303
    assert [a.provider for a in accounts(factory)] == ["garmin"]


def test_garmin_wrong_password_and_rate_limit_are_clear(client, factory, boxes):
    user = garmin_user(boxes)
    token = garmin_form(client, factory)
    wrong = client.post(
        "/link/garmin", data={"csrf_token": token, "email": user.email, "password": "nope"}
    )
    assert wrong.status_code == 400 and "did not accept that email and password" in wrong.text
    assert user.email in wrong.text and "nope" not in wrong.text
    boxes.garmin.rate_limit_logins = True
    limited = client.post(
        "/link/garmin", data={"csrf_token": token, "email": user.email, "password": user.password}
    )
    assert limited.status_code == 429 and "wait an hour" in limited.text
    assert accounts(factory) == []


def test_garmin_form_is_rate_limited_here_too(client, factory, boxes):
    user = garmin_user(boxes)
    token = garmin_form(client, factory)
    statuses = [
        client.post(
            "/link/garmin", data={"csrf_token": token, "email": user.email, "password": "x"}
        ).status_code
        for _ in range(6)
    ]
    assert statuses == [400] * 5 + [429]


def test_an_expired_code_step_says_start_again(client, factory, boxes):
    user = garmin_user(boxes)
    token = garmin_form(client, factory)
    page = client.post(
        "/link/garmin", data={"csrf_token": token, "email": user.email, "password": user.password}
    )
    key = page.text.split('name="key" value="')[1].split('"')[0]
    with transaction(factory) as session:
        session.execute(update(PendingLogin).values(expires_at=PendingLogin.created_at))
    late = send_code(client, token, key, "424242")
    assert late.status_code == 400 and "took too long" in late.text
    assert accounts(factory) == []


# -- relink --------------------------------------------------------------------------
def test_relink_revives_a_disconnected_account(client, factory, boxes):
    user = garmin_user(boxes, mfa_code=None)
    token = garmin_form(client, factory)
    client.post("/link/garmin", data={"csrf_token": token, "email": user.email,
                                      "password": user.password})  # fmt: skip
    with transaction(factory) as session:
        session.execute(
            update(LinkedAccount).values(status=LinkStatus.NEEDS_RELINK, consecutive_failures=3)
        )
    page = open_invitation(client, factory, provider="garmin")
    assert "Reconnect your Garmin" in page.text and "Link with Google" not in page.text
    form = client.get("/link/garmin")
    again = client.post("/link/garmin", data={"csrf_token": csrf(form.text), "email": user.email,
                                              "password": user.password})  # fmt: skip
    assert again.status_code == 303
    [account] = accounts(factory)
    assert account.status == LinkStatus.ACTIVE.value and account.consecutive_failures == 0


def test_public_url_is_where_google_returns(client, factory, app):
    page = open_invitation(client, factory)
    start = client.post("/link/google-health/start", data={"csrf_token": csrf(page.text)})
    assert (
        "redirect_uri=" + PUBLIC_URL.replace(":", "%3A").replace("/", "%2F")
        in start.headers["location"]
    )
