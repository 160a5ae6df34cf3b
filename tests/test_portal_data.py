"""The patient's own data page, from a data link: what it shows (and never of
another patient), pain reports with the programme's advice, downloads, unlinking,
relinking, and deleting everything (no row of the patient left in any table, the
Google grant revoked), on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
from portal_support import Sandboxes, add_people, csrf, data_link, invite, portal_settings
from portal_support import web_client as client_for
from sqlalchemy import MetaData, select, update

from adapters.google_health.auth import SCOPES
from ingest.db import transaction
from ingest.linking import link_account
from ingest.models import LinkedAccount, LinkStatus, PainReport
from ingest.programme_models import Alert, ExemptDay
from sandbox.garmin_state import GarminSandbox
from sandbox.google_health import GoogleSandboxState
from sandbox.google_health import create_app as google_app
from sandbox.serve import serve_in_thread
from stridewise.portal.pending import save_pending
from stridewise.wiring import App, run_cycle

SECRET_NOTE = "knee twinge after the stairs"
OTHER_NOTE = "a private note of the other patient"


@pytest.fixture(scope="module")
def boxes():
    google = GoogleSandboxState()
    with serve_in_thread(google_app(google)) as google_url:
        yield Sandboxes(google, google_url, GarminSandbox(), "http://127.0.0.1:9")


def _google_tokens(google: GoogleSandboxState, app: App, person: str) -> dict:
    issued = google.issue_tokens(person)
    expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat() + "Z"
    settings = app.settings
    return {
        "token": issued["access_token"],
        "refresh_token": issued["refresh_token"],
        "token_uri": settings.google_oauth_token_url,
        "client_id": settings.google_client_id,
        "client_secret": settings.google_client_secret.get_secret_value(),
        "scopes": list(SCOPES),
        "expiry": expiry,
    }


@pytest.fixture
def world(db_url, secret_key, boxes, factory):
    """P1 and P2, each linked to their own Google sandbox user and synced, each with a
    pain report, an alert and an exempt day; P1 also has invitations and a pending login."""
    add_people(factory, "P1", "P2")
    app = App(portal_settings(db_url, secret_key, boxes, sync_backfill_days=3))
    today = datetime.now(UTC).date()
    for patient, note in (("P1", SECRET_NOTE), ("P2", OTHER_NOTE)):
        person = f"person-{patient}-{db_url[-12:]}"
        user = boxes.google.add_user(person)
        with transaction(factory) as session:
            tokens = _google_tokens(boxes.google, app, person)
            link_account(session, app.cipher, patient, "google-health", tokens, user.health_user_id)
            session.add(PainReport(patient_id=patient, score=4, note=note,
                                   reported_at=datetime.now(UTC) - timedelta(hours=3)))  # fmt: skip
            session.add(ExemptDay(patient_id=patient, local_date=today, reason="travel"))
            session.add(
                Alert(
                    patient_id=patient,
                    rule="under_target",
                    period=f"w-{today}",
                    period_end=today,
                    audience="patient",
                    severity="info",
                    status="open",
                    raised_on=today,
                    muted=False,
                    facts={
                        "week_start": str(today),
                        "walks": 1,
                        "walks_planned": 3,
                        "nudge_day": 4,
                        "until": str(today),
                    },
                )
            )
    assert run_cycle(app.factory, app.settings, "test", force=True).outcomes["success"] == 2
    p1_invitation = invite(factory, "P1")
    with transaction(factory) as session:
        from stridewise.portal.invitations import find_invitation

        row = find_invitation(session, p1_invitation)
        save_pending(session, app.cipher, row.id, "garmin", {"cookies": []})
    return app


@pytest.fixture
def client(world):
    with client_for(world) as client:
        yield client


def test_the_page_shows_the_patients_own_data_and_nothing_of_another(client, factory):
    page = client.get(f"/me/{data_link(factory, 'P1')}")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert SECRET_NOTE in page.text and OTHER_NOTE not in page.text
    assert "Patient P2" not in page.text
    assert "Fitbit or Pixel Watch" in page.text and "connected" in page.text
    assert '<rect class="bar' in page.text  # the chart
    assert "1 of your 3 walks" in page.text  # the patient's alert, rendered
    other = client.get(f"/me/{data_link(factory, 'P2')}")
    assert OTHER_NOTE in other.text and SECRET_NOTE not in other.text


def test_an_expired_or_unknown_data_link_opens_nothing(client, factory):
    token = data_link(factory, "P1", days=7)
    from ingest.portal_models import DataLink

    with transaction(factory) as session:
        session.execute(update(DataLink).values(expires_at=DataLink.created_at))
    expired = client.get(f"/me/{token}")
    assert expired.status_code == 410 and SECRET_NOTE not in expired.text
    assert client.get("/me/" + "x" * 43).status_code == 404


def test_the_links_are_not_interchangeable(client, factory):
    """A data link is no invitation, and an invitation opens no data page."""
    data_token, invitation = data_link(factory, "P1"), invite(factory, "P1")
    assert client.get(f"/invite/{data_token}").status_code == 404
    assert client.get(f"/me/{invitation}").status_code == 404


@pytest.mark.parametrize(
    ("score", "words"), [(2, "is safe"), (5, "acceptable if it has settled"), (8, "too much")]
)
def test_a_pain_report_gets_the_programmes_advice(client, factory, score, words):
    token = data_link(factory, "P1")
    page = client.get(f"/me/{token}")
    answer = client.post(f"/me/{token}/pain", data={"csrf_token": csrf(page.text),
                                                    "score": str(score), "note": ""})  # fmt: skip
    assert answer.status_code == 200
    assert f"pain {score} out of 10 is recorded" in answer.text and words in answer.text
    with factory() as session:
        scores = session.scalars(select(PainReport.score).where(PainReport.patient_id == "P1"))
        assert sorted(scores) == sorted([4, score])


def test_a_bad_pain_score_is_refused(client, factory):
    token = data_link(factory, "P1")
    page = client.get(f"/me/{token}")
    answer = client.post(f"/me/{token}/pain", data={"csrf_token": csrf(page.text), "score": "11"})
    assert answer.status_code == 422 and "from 0 (no pain) to 10" in answer.text
    with factory() as session:
        assert (
            len(session.scalars(select(PainReport).where(PainReport.patient_id == "P1")).all()) == 1
        )


def test_downloads_hold_everything_but_no_secret(client, factory, world):
    token = data_link(factory, "P1")
    data = client.get(f"/me/{token}/export.json")
    assert data.status_code == 200 and "attachment" in data.headers["content-disposition"]
    body = data.json()
    assert body["patient"]["id"] == "P1" and body["days"] and body["intervals"]
    assert body["pain_reports"][0]["note"] == SECRET_NOTE
    assert body["alerts"][0]["message"]
    assert OTHER_NOTE not in data.text
    with factory() as session:
        sealed = session.scalars(select(LinkedAccount.credentials)).all()
    tokens = [world.cipher.decrypt_json(c)["refresh_token"] for c in sealed]
    assert not any(t in data.text for t in tokens)
    rows = list(csv.DictReader(io.StringIO(client.get(f"/me/{token}/export.csv").text)))
    kinds = {r["record"] for r in rows}
    assert {"steps", "pain", "exempt day", "alert for patient", "linked account"} <= kinds
    assert client.get(f"/me/{token}/export.xml").status_code == 404


def test_unlink_and_reconnect(client, factory):
    token = data_link(factory, "P1")
    with transaction(factory) as session:
        session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.patient_id == "P1")
            .values(status=LinkStatus.NEEDS_RELINK)
        )
    page = client.get(f"/me/{token}")
    assert "disconnected" in page.text and "Reconnect" in page.text
    relink = client.post(f"/me/{token}/relink", data={"csrf_token": csrf(page.text),
                                                      "provider": "google-health"})  # fmt: skip
    assert relink.status_code == 303 and relink.headers["location"].startswith("/relink/")
    relink_page = client.get(relink.headers["location"])
    assert "Reconnect your Fitbit or Pixel Watch" in relink_page.text
    assert "Link Garmin" not in relink_page.text
    gone = client.post(f"/me/{token}/unlink", data={"csrf_token": csrf(page.text),
                                                    "provider": "google-health"})  # fmt: skip
    assert gone.status_code == 303
    with factory() as session:
        providers = session.scalars(select(LinkedAccount.patient_id)).all()
    assert providers == ["P2"]


def _cells_of(engine, needles: set[str]) -> list[tuple[str, object]]:
    """Every cell of every table that holds one of ``needles``."""
    tables = MetaData()
    tables.reflect(engine)
    found = []
    with engine.connect() as connection:
        for table in tables.sorted_tables:
            for row in connection.execute(select(table)):
                found += [(table.name, v) for v in row if isinstance(v, str) and v in needles]
                found += [(table.name, v) for v in row if isinstance(v, str) and SECRET_NOTE in v]
    return found


def test_delete_everything_leaves_no_row_of_the_patient(client, factory, engine, boxes):
    with factory() as session:
        p1_user = session.scalar(
            select(LinkedAccount.external_user_id).where(LinkedAccount.patient_id == "P1")
        )
    needles = {"P1", "Patient P1", p1_user}
    assert len(_cells_of(engine, needles)) > 5
    token = data_link(factory, "P1")
    confirm = client.get(f"/me/{token}/delete")
    assert confirm.status_code == 200 and "cannot be undone" in confirm.text
    unconfirmed = client.post(f"/me/{token}/delete", data={"csrf_token": csrf(confirm.text)})
    assert unconfirmed.status_code == 422
    assert _cells_of(engine, needles)
    person = next(u.person for u in boxes.google.users.values() if u.health_user_id == p1_user)
    grants_before = [g for g in boxes.google.refresh.values() if g.person == person]
    assert grants_before
    done = client.post(f"/me/{token}/delete", data={"csrf_token": csrf(confirm.text),
                                                    "confirm": "delete"})  # fmt: skip
    assert done.status_code == 200 and "Your data is deleted" in done.text
    assert "was withdrawn" in done.text
    assert _cells_of(engine, needles) == []
    assert [g for g in boxes.google.refresh.values() if g.person == person] == []
    assert client.get(f"/me/{token}").status_code == 404
    other = client.get(f"/me/{data_link(factory, 'P2')}")
    assert other.status_code == 200 and OTHER_NOTE in other.text
    with factory() as session:
        assert session.scalars(select(LinkedAccount.patient_id)).all() == ["P2"]
