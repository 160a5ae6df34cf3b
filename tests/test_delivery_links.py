"""Every patient message carries a signed, expiring link to the patient's own data,
and a "disconnected" one a relink link; both open their pages in the web app."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from delivery_support import add_alert, config_for, seed_people, smtp_server

from delivery.queueing import queue_patient_messages
from delivery.worker import deliver_once
from ingest.db import transaction
from ingest.models import LinkedAccount
from stridewise.portal.message_links import PortalLinks

pytest_plugins = ["web_support"]

MORNING = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)


def links_in(message) -> dict[str, str]:
    body = message.get_body(("plain",)).get_content()
    return dict(re.findall(r"^([^\r\n]+?): (http://testserver/\S+)\r?$", body, re.MULTILINE))


def test_a_disconnected_message_links_to_relinking_and_to_the_patients_own_data(factory, client):
    seed_people(factory, patients=2)
    with transaction(factory) as session:
        session.add(
            LinkedAccount(
                patient_id="P0", provider="google-health", credentials=b"x",
                credentials_version=1, status="needs_relink", last_error_kind="auth_revoked",
                created_at=MORNING, updated_at=MORNING,
            )
        )  # fmt: skip
    add_alert(factory, "P0", "disconnected", "patient", period="2026-11-18",
              created_at=MORNING, facts={"since": "2026-11-18"})  # fmt: skip
    add_alert(factory, "P1", "flare", "patient", created_at=MORNING,
              facts={"day": "2026-11-19", "kind": "high", "score": 8})  # fmt: skip
    with transaction(factory) as session:
        assert queue_patient_messages(session, ["P0", "P1"], MORNING) == 2
    links = PortalLinks(factory, "http://testserver", days=90)  # still valid today
    with smtp_server() as (mailbox, port):
        assert deliver_once(factory, config_for(port, links=links), "w1", MORNING).sent == 2
    by_patient = {m["To"].split("@")[0].upper(): links_in(m) for m in mailbox.messages}

    p0, p1 = by_patient["P0"], by_patient["P1"]
    assert set(p0) == {"Reconnect your watch", *p1} and len(p1) == 1  # own data only
    relink = p0.pop("Reconnect your watch")
    [own] = p0.values()
    assert "/relink/" in relink and "/me/" in own and own != next(iter(p1.values()))
    page = client.get(relink.removeprefix("http://testserver"))
    assert page.status_code == 200 and "Google" in page.text
    # Each own-data link opens that patient's page: P0's shows their Google account,
    # P1 (no account) sees none of it.
    mine = client.get(own.removeprefix("http://testserver"))
    theirs = client.get(next(iter(p1.values())).removeprefix("http://testserver"))
    assert mine.status_code == theirs.status_code == 200
    assert "Your walking and your data" in mine.text and "Your walking and your data" in theirs.text
    assert "google-health" in mine.text and "google-health" not in theirs.text
