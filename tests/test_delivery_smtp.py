"""Email through a real SMTP server on loopback (aiosmtpd): what arrives, parsed; and
servers that refuse (451, 550) or hang up: retried, then dead with the reason."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from delivery_support import FLARE, Mailbox, add_alert, config_for, seed_people, smtp_server
from sqlalchemy import select

from delivery import outbox
from delivery.queueing import queue_patient_messages, queue_urgent
from delivery.worker import deliver_once
from ingest.db import transaction
from ingest.delivery_models import AlertDelivery, OutboxMessage

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)  # 10:00 in London


def _rows(factory) -> list[OutboxMessage]:
    with factory() as session:
        return list(session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)))


def test_urgent_alert_and_patient_message_arrive_with_stable_headers(factory):
    seed_people(factory)
    urgent = add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=NOW)
    mine = add_alert(factory, "P0", "flare", "patient", created_at=NOW)
    with transaction(factory) as session:
        assert queue_patient_messages(session, ["P0"], NOW) == 1
        assert queue_urgent(session, NOW) == 1
        # Queueing again changes nothing: the keys are derived from the content.
        assert queue_patient_messages(session, ["P0"], NOW) == 0
        assert queue_urgent(session, NOW) == 0

    with smtp_server() as (mailbox, port):
        report = deliver_once(factory, config_for(port), "w1", NOW)
    assert report.sent == 2
    by_to = {m["To"]: m for m in mailbox.messages}
    rows = {r.recipient: r for r in _rows(factory)}

    therapist = by_to["ana@clinic.test"]
    assert therapist["Subject"] == "Urgent: Pain flare: Sam P0"
    assert therapist["From"] == "stridewise <noreply@clinic.test>"
    assert therapist["Message-ID"] == outbox.message_id(rows["ana@clinic.test"].key, "clinic.test")
    assert therapist["Auto-Submitted"] == "auto-generated"
    assert "Pain flare on 2026-11-20: pain 8/10" in therapist.get_body(("plain",)).get_content()

    patient = by_to["p0@home.test"]
    assert patient["Subject"] == "Hold, don't stop"
    assert "Hello Sam," in patient.get_body(("plain",)).get_content()
    assert all(r.status == "sent" and r.sent_at == NOW for r in rows.values())
    with factory() as session:
        carried = set(session.scalars(select(AlertDelivery.alert_id)))
    assert carried == {urgent, mine}


@pytest.mark.parametrize("mode", ["451", "drop"])
def test_transient_refusals_are_retried_then_dead_with_the_reason(factory, mode):
    seed_people(factory)
    add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=NOW)
    with transaction(factory) as session:
        queue_urgent(session, NOW)
    with smtp_server(Mailbox(mode=mode)) as (mailbox, port):
        config = config_for(port, max_attempts=3)
        at = NOW
        for attempt in (1, 2):
            assert deliver_once(factory, config, "w1", at).outcomes == {"failed": 1}
            row = _rows(factory)[0]
            assert (row.status, row.attempts) == ("failed", attempt)
            assert row.next_attempt_at == at + outbox.backoff(attempt, 60, config.max_backoff_s)
            # Not due yet: nothing happens before the back-off is over.
            early = row.next_attempt_at - timedelta(seconds=1)
            assert deliver_once(factory, config, "w1", early).outcomes == {}
            at = row.next_attempt_at
        assert deliver_once(factory, config, "w1", at).outcomes == {"dead": 1}
    row = _rows(factory)[0]
    assert row.status == "dead" and row.attempts == 3
    assert row.last_error.startswith("gave up after 3 attempts")
    assert ("SMTP 451" if mode == "451" else "SMTP") in row.last_error
    assert mailbox.messages == [] and mailbox.refusals == 3


def test_permanent_refusal_is_dead_at_once_and_the_others_still_go(factory):
    seed_people(factory, patients=2)
    for pid in ("P0", "P1"):
        add_alert(factory, pid, "flare", "patient", created_at=NOW)
    with transaction(factory) as session:
        queue_patient_messages(session, ["P0", "P1"], NOW)

    class OneBadAddress(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
            if address == "p0@home.test":
                return "550 5.1.1 no such user"
            return await super().handle_RCPT(server, session, envelope, address, rcpt_options)

    with smtp_server(OneBadAddress()) as (mailbox, port):
        report = deliver_once(factory, config_for(port), "w1", NOW)
    assert report.outcomes == {"dead": 1, "sent": 1}
    rows = {r.recipient: r for r in _rows(factory)}
    assert rows["p0@home.test"].status == "dead"
    assert rows["p0@home.test"].attempts == 1
    assert "SMTP 550 5.1.1 no such user" in rows["p0@home.test"].last_error
    assert [m["To"] for m in mailbox.messages] == ["p1@home.test"]


def test_a_retry_after_a_refusal_delivers(factory):
    seed_people(factory)
    add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=NOW)
    with transaction(factory) as session:
        queue_urgent(session, NOW)
    with smtp_server(Mailbox(mode="451")) as (mailbox, port):
        config = config_for(port)
        deliver_once(factory, config, "w1", NOW)
        mailbox.mode = None
        later = _rows(factory)[0].next_attempt_at
        assert deliver_once(factory, config, "w1", later).sent == 1
    assert len(mailbox.messages) == 1
    row = _rows(factory)[0]
    assert (row.status, row.attempts, row.last_error) == ("sent", 2, None)


def test_racing_claimers_lease_each_message_once_and_never_past_their_limit(engine, factory):
    """Eight threads claim 7 at a time from 300 due rows on PostgreSQL: every row goes
    to one claimer, and no claim takes more than 7 (with the SKIP LOCKED pick run
    again per row, one replica once leased all 500 of a test's rows at a limit of 50)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("concurrent claimers need PostgreSQL (SQLite has one writer)")
    seed_people(factory)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    with transaction(factory) as session:
        for i in range(300):
            outbox.enqueue(session, key=f"race-{i}", channel="email", kind="therapist_weekly",
                           recipient="ana@clinic.test", payload={"week": "2026-W47"},
                           not_before=now, therapist_id="T1")  # fmt: skip
    barrier, sizes, got = threading.Barrier(8), [], []

    def claimer(name: str) -> None:
        barrier.wait()
        while batch := outbox.claim(factory, name, now, 7, 60):
            sizes.append(len(batch))
            got.extend(row.id for row in batch)

    threads = [threading.Thread(target=claimer, args=(f"t{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == len(set(got)) == 300
    assert max(sizes) <= 7, sorted(sizes)[-5:]
