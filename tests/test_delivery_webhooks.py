"""Signed webhooks to a real HTTP receiver that verifies them with ``standardwebhooks``."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from delivery_support import FLARE, Receiver, add_alert, config_for, seed_people, webhook_server
from sqlalchemy import select

from delivery.outbox import webhook_id
from delivery.queueing import queue_urgent
from delivery.webhooks import add_endpoint
from delivery.worker import deliver_once
from ingest.db import transaction
from ingest.delivery_models import OutboxMessage, WebhookEndpoint

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def _setup(factory, cipher, url: str) -> str:
    seed_people(factory)
    with transaction(factory) as session:
        _, secret = add_endpoint(session, cipher, "T1", url)
    add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=NOW)
    with transaction(factory) as session:
        queue_urgent(session, NOW)
    return secret


def _webhook_row(factory) -> OutboxMessage:
    with factory() as session:
        query = select(OutboxMessage).where(OutboxMessage.channel == "webhook")
        return session.scalars(query).one()


def test_signed_event_verifies_and_the_secret_is_not_stored_in_clear(factory, cipher):
    receiver = Receiver()
    with webhook_server(receiver) as url:
        receiver.secret = _setup(factory, cipher, url)
        # No SMTP server listens on this port: the email fails, the webhook still goes.
        report = deliver_once(factory, config_for(1, cipher=cipher), "w1", NOW)
    assert report.outcomes == {"sent": 1, "failed": 1}
    [event] = receiver.events
    assert event["type"] == "alert.urgent"
    assert event["data"]["patient"] == "P0" and event["data"]["rule"] == "flare"
    assert receiver.ids == [webhook_id(_webhook_row(factory).key)]
    with factory() as session:
        stored = session.scalars(select(WebhookEndpoint.secret)).one()
    assert receiver.secret.encode() not in stored


def test_tampered_body_is_rejected_and_retried(factory, cipher):
    receiver = Receiver(tamper=True)
    with webhook_server(receiver) as url:
        receiver.secret = _setup(factory, cipher, url)
        deliver_once(factory, config_for(1, cipher=cipher), "w1", NOW)
    assert receiver.events == [] and len(receiver.rejected) == 1
    row = _webhook_row(factory)
    assert row.status == "failed" and row.last_error == "webhook answered HTTP 400"


def test_a_retry_carries_the_same_webhook_id_with_a_fresh_timestamp(factory, cipher):
    receiver = Receiver(answer=503)
    with webhook_server(receiver) as url:
        receiver.secret = _setup(factory, cipher, url)
        config = config_for(1, cipher=cipher)
        deliver_once(factory, config, "w1", NOW)
        receiver.answer = 200
        later = _webhook_row(factory).next_attempt_at
        assert later > NOW
        time.sleep(1.1)  # the signature's timestamp has whole seconds
        deliver_once(factory, config, "w1", later + timedelta(seconds=1))
    # Both attempts verified (signed for their own timestamp), one id: the receiver dedupes.
    assert len(receiver.events) == 2 and len(set(receiver.ids)) == 1
    assert receiver.events[0]["timestamp"] != receiver.events[1]["timestamp"]
    assert _webhook_row(factory).status == "sent"


def test_gone_disables_the_endpoint(factory, cipher):
    receiver = Receiver(answer=410)
    with webhook_server(receiver) as url:
        receiver.secret = _setup(factory, cipher, url)
        deliver_once(factory, config_for(1, cipher=cipher), "w1", NOW)
        # A second urgent alert: no webhook row for a disabled endpoint.
        add_alert(factory, "P0", "disconnected", "therapist", "urgent",
                  facts={"since": "2026-11-20"}, created_at=NOW)  # fmt: skip
        with transaction(factory) as session:
            queue_urgent(session, NOW)
    row = _webhook_row(factory)
    assert row.status == "dead" and "410" in row.last_error
    with factory() as session:
        endpoint = session.scalars(select(WebhookEndpoint)).one()
        webhooks = session.scalars(
            select(OutboxMessage).where(OutboxMessage.channel == "webhook")
        ).all()
    assert endpoint.active is False and "410" in endpoint.disabled_reason
    assert len(webhooks) == 1
