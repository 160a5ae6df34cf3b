"""Therapists in the browser (FastAPI's client): sign-in, sessions, lock-out, the
caseload, the patient page and its forms."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select, update
from web_support import (
    add_account,
    add_alert,
    add_patient,
    add_therapist,
    csrf_from,
    sign_in,
    web_app,
)

from core.clock import utcnow
from ingest.access_models import AlertSnooze, LoginAttempt, TherapistSession
from ingest.models import Patient
from ingest.portal_models import Invitation
from ingest.programme_models import Alert, ExemptDay, LevelOverride, ProgrammeStart

pytest_plugins = ["web_support"]


@pytest.fixture
def signed_in(factory, client) -> TestClient:
    email = add_therapist(factory, "T1", name="Ana Silva")
    assert sign_in(client, email).status_code == 303
    return client


def test_sign_in_opens_a_session_and_sign_out_ends_it(factory, client):
    email = add_therapist(factory, "T1", name="Ana Silva")
    wrong = sign_in(client, email, "not the password at all")
    assert wrong.status_code == 401 and "do not match" in wrong.text
    response = sign_in(client, email.upper())  # emails match whatever their case
    assert response.status_code == 303 and response.headers["location"] == "/"
    page = client.get("/")
    assert page.status_code == 200 and "Ana Silva" in page.text
    stolen = client.cookies["sw_session"]
    out = client.post("/logout", data={"csrf_token": csrf_from(page.text)})
    assert out.status_code == 303
    assert client.get("/").status_code == 401
    client.cookies.set("sw_session", stolen)  # the old cookie opens nothing any more
    assert client.get("/").status_code == 401


def test_sessions_expire(factory, signed_in):
    assert signed_in.get("/").status_code == 200
    with factory.begin() as session:
        session.execute(update(TherapistSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert signed_in.get("/").status_code == 401


def test_repeated_failures_lock_the_account(db_url, secret_key, factory):
    web = web_app(db_url, secret_key, login_max_failures=3, login_lockout_minutes=10)
    client = TestClient(web, follow_redirects=False)
    email = add_therapist(factory, "T1")
    for _ in range(3):
        assert sign_in(client, email, "wrong password here").status_code == 401
    locked = sign_in(client, email)  # even the right password, while locked
    assert locked.status_code == 429 and "locked" in locked.text
    with factory.begin() as session:
        session.execute(update(LoginAttempt).values(at=utcnow() - timedelta(minutes=11)))
    assert sign_in(client, email).status_code == 303


def test_one_address_is_rate_limited_across_accounts(factory, client):
    add_therapist(factory, "T1")
    for n in range(20):
        sign_in(client, f"nobody{n}@clinic.example", "wrong password here")
    limited = sign_in(client, "t1@clinic.example")
    assert limited.status_code == 429 and "Too many" in limited.text


def test_the_caseload_is_sorted_by_need_and_filters(factory, signed_in):
    add_therapist(factory, "T2")
    for pid, name in [("P1", "Quiet Quinn"), ("P2", "Urgent Uma"), ("P3", "Relink Ray")]:
        add_patient(factory, pid, "T1", name)
    add_patient(factory, "P9", "T2", "Other Otto")
    add_account(factory, "P1")
    add_account(factory, "P2")
    add_account(factory, "P3", status="needs_relink")
    add_alert(factory, "P2", "flare")
    page = signed_in.get("/").text
    order = [page.index(n) for n in ("Urgent Uma", "Relink Ray", "Quiet Quinn")]
    assert order == sorted(order)
    assert "Other Otto" not in page
    assert "Pain flare" in page and "Needs relink" in page
    disconnected = signed_in.get("/", params={"show": "disconnected"}).text
    assert "Relink Ray" in disconnected and "Urgent Uma" not in disconnected
    found = signed_in.get("/", params={"q": "uma"}).text
    assert "Urgent Uma" in found and "Quiet Quinn" not in found
    assert signed_in.get("/", params={"show": "bogus"}).status_code == 422


def test_the_dashboard_query_count_does_not_grow_with_patients(factory, engine, signed_in):
    def queries_for(n: int) -> int:
        for i in range(n):
            pid = f"Q{n}-{i}"
            add_patient(factory, pid, "T1")
            add_account(factory, pid)
            add_alert(factory, pid, "under_target")
        statements = []
        listener = lambda *args: statements.append(args[2])  # noqa: E731
        event.listen(engine, "before_cursor_execute", listener)
        try:
            assert signed_in.get("/").status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", listener)
        return len(statements)

    few, many = queries_for(2), queries_for(25)
    assert few == many, (few, many)


def _patient_page(factory, signed_in) -> str:
    add_patient(factory, "P1", "T1", "Sam Lee")
    return signed_in.get("/patients/P1").text


def test_acknowledge_and_snooze_an_alert(factory, signed_in):
    first = add_alert(factory, _seed(factory), "flare")
    second = add_alert(factory, "P1", "under_target")
    page = signed_in.get("/patients/P1")
    assert page.status_code == 200 and "Pain flare" in page.text
    token = csrf_from(page.text)
    done = signed_in.post(f"/patients/P1/alerts/{first}/acknowledge", data={"csrf_token": token})
    assert done.status_code == 303 and "done=acknowledged" in done.headers["location"]
    snoozed = signed_in.post(
        f"/patients/P1/alerts/{second}/snooze", data={"csrf_token": token, "days": "3"}
    )
    assert snoozed.status_code == 303
    with factory() as session:
        assert session.get(Alert, first).status == "acknowledged"
        assert session.get(AlertSnooze, second).until > utcnow() + timedelta(days=2)
    assert "Alert acknowledged." in signed_in.get(done.headers["location"]).text
    bad = signed_in.post(
        f"/patients/P1/alerts/{second}/snooze", data={"csrf_token": token, "days": "99"}
    )
    assert bad.status_code == 422


def _seed(factory) -> str:
    return add_patient(factory, "P1", "T1", "Sam Lee")


def test_forms_refuse_a_missing_csrf_token_and_change_nothing(factory, signed_in):
    alert = add_alert(factory, _seed(factory), "flare")
    for path, data in [
        (f"/patients/P1/alerts/{alert}/acknowledge", {}),
        (f"/patients/P1/alerts/{alert}/snooze", {"days": "1"}),
        ("/patients/P1/exempt", {"day": "2026-03-01", "reason": "illness"}),
        (
            "/patients/P1/programme",
            {"cadence_threshold": "90", "walks_per_week": "5", "minutes_per_walk": "30"},
        ),
        ("/patients/P1/invite", {}),
        ("/logout", {}),
    ]:
        assert signed_in.post(path, data=data).status_code == 403, path
    with factory() as session:
        assert session.get(Alert, alert).status == "open"
        assert session.scalars(select(AlertSnooze)).all() == []
        assert session.scalars(select(ExemptDay)).all() == []
        assert session.scalars(select(Invitation)).all() == []
        assert session.get(Patient, "P1").overrides == {}
    assert signed_in.get("/").status_code == 200  # still signed in


def test_invalid_programme_input_shows_messages_by_the_fields_and_changes_nothing(
    factory, signed_in
):
    token = csrf_from(_patient_page(factory, signed_in))
    form = {
        "csrf_token": token,
        "start_date": "2026-13-40",
        "level": "",
        "cadence_threshold": "fast",
        "walks_per_week": "12",
        "minutes_per_walk": "30",
    }
    response = signed_in.post("/patients/P1/programme", data=form)
    assert response.status_code == 422
    html = response.text
    for name, words in [
        ("start_date", "YYYY-MM-DD"),
        ("cadence_threshold", "whole number"),
        ("walks_per_week", "between 1 and 7"),
    ]:
        assert f'id="f-{name}-error"' in html and words in html
        assert f'aria-describedby="f-{name}-error' in html
    assert 'value="fast"' in html  # what was typed is kept
    assert 'id="f-minutes_per_walk-error"' not in html
    with factory() as session:
        assert session.get(Patient, "P1").overrides == {}
        assert session.get(ProgrammeStart, "P1") is None


def test_a_valid_programme_form_is_applied(factory, signed_in):
    token = csrf_from(_patient_page(factory, signed_in))
    form = {
        "csrf_token": token,
        "start_date": "2026-03-02",
        "level": "",
        "cadence_threshold": "90",
        "walks_per_week": "5",
        "minutes_per_walk": "25",
    }
    response = signed_in.post("/patients/P1/programme", data=form)
    assert response.status_code == 303
    with factory() as session:
        assert session.get(Patient, "P1").overrides == {
            "cadence_threshold": 90,
            "goal_minutes_per_walk": 25,
        }
        assert str(session.get(ProgrammeStart, "P1").start_date) == "2026-03-02"
        assert session.scalars(select(LevelOverride)).all() == []  # no week yet: no level


def test_exempt_days_validate_and_save(factory, signed_in):
    token = csrf_from(_patient_page(factory, signed_in))
    future = (utcnow() + timedelta(days=5)).date().isoformat()
    bad = signed_in.post(
        "/patients/P1/exempt", data={"csrf_token": token, "day": future, "reason": "illness"}
    )
    assert bad.status_code == 422 and 'id="f-day-error"' in bad.text and "future" in bad.text
    worse = signed_in.post(
        "/patients/P1/exempt", data={"csrf_token": token, "day": "", "reason": "boredom"}
    )
    assert 'id="f-reason-error"' in worse.text and 'id="f-day-error"' in worse.text
    with factory() as session:
        assert session.scalars(select(ExemptDay)).all() == []
    ok = signed_in.post(
        "/patients/P1/exempt", data={"csrf_token": token, "day": "2026-03-01", "reason": "travel"}
    )
    assert ok.status_code == 303
    assert "2026-03-01: travel" in signed_in.get("/patients/P1").text


def test_send_a_new_invitation(factory, signed_in):
    token = csrf_from(_patient_page(factory, signed_in))
    response = signed_in.post("/patients/P1/invite", data={"csrf_token": token})
    assert response.status_code == 200 and "/invite/" in response.text
    with factory() as session:
        invitation = session.scalars(select(Invitation)).one()
        assert invitation.patient_id == "P1" and invitation.created_by == "T1"


def test_another_therapists_patient_is_not_found(factory, signed_in):
    add_therapist(factory, "T2")
    add_patient(factory, "P9", "T2", "Other Otto")
    alert = add_alert(factory, "P9", "flare")
    page = signed_in.get("/")
    token = csrf_from(page.text)
    for response in (
        signed_in.get("/patients/P9"),
        signed_in.post(f"/patients/P9/alerts/{alert}/acknowledge", data={"csrf_token": token}),
        signed_in.post("/patients/P9/invite", data={"csrf_token": token}),
    ):
        assert response.status_code == 404 and "Other Otto" not in response.text


def test_replicas_share_the_caseload_refresh_one_slot_each(factory, signed_in):
    """Two serve replicas run the job every 5 minutes: one refreshes per slot."""
    from datetime import UTC, datetime, timedelta

    from stridewise.web.summaries import refresh_stale

    slot = datetime(2030, 1, 7, 9, 5, 30, tzinfo=UTC)
    assert refresh_stale(factory, "replica-a", now=slot) is not None  # it ran
    assert refresh_stale(factory, "replica-b", now=slot + timedelta(minutes=2)) is None
    assert refresh_stale(factory, "replica-a", now=slot + timedelta(minutes=3)) is None
    assert refresh_stale(factory, "replica-b", now=slot + timedelta(minutes=5)) is not None


def test_last_sync_reads_in_plain_words_and_never_negative():
    from datetime import UTC, datetime, timedelta

    from stridewise.web.templating import templates

    ago = templates.env.get_template("therapist/_macros.html").module.ago
    now = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
    said = {
        d: ago(now - d, now).strip()
        for d in (timedelta(minutes=-531), timedelta(0), timedelta(minutes=5), timedelta(hours=3))
    }
    assert list(said.values()) == ["just now", "just now", "5 min ago", "3 h ago"]
    assert ago(None, now).strip() == "never"
