"""Run the outbox: claim due rows, hold patient messages to their hygiene, compose,
send, record. Safe in any number of replicas (see ``delivery.outbox``).

One row's failure never stops the others: it is retried with back-off, and after
``max_attempts`` (or at once, when the receiver refuses for good) it is dead,
with the reason kept in ``last_error``.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import patient_zone, utcnow
from delivery import outbox
from delivery.compose import NothingToSay, compose
from delivery.composed import Composed
from delivery.config import DeliveryConfig
from delivery.email import (
    PermanentSendError,
    SmtpSender,
    TransientSendError,
    build_email,
    domain_of,
)
from delivery.hygiene import next_patient_slot
from delivery.webhooks import EndpointGone, body, post
from ingest.db import transaction
from ingest.delivery_models import AlertDelivery, OutboxMessage, WebhookEndpoint
from ingest.models import Patient

log = structlog.get_logger("stridewise.delivery")


@dataclass
class DeliveryReport:
    outcomes: Counter = field(default_factory=Counter)

    @property
    def sent(self) -> int:
        return self.outcomes["sent"]


class Channels:
    """The open connections of one delivery run (SMTP reused across messages)."""

    def __init__(self, config: DeliveryConfig) -> None:
        self.config = config
        self.smtp = SmtpSender(config.smtp)
        self.http = httpx.Client(timeout=config.webhook_timeout_s, follow_redirects=False)
        self.domain = domain_of(config.mail_from)

    def send(self, session: Session, row: outbox.Claimed, message: Composed) -> None:
        if row.channel == "email":
            mid = outbox.message_id(row.key, self.domain)
            self.smtp.send(build_email(message, self.config.mail_from, row.recipient, mid))
            return
        endpoint = session.get(WebhookEndpoint, int(row.recipient))
        if endpoint is None or not endpoint.active:
            raise NothingToSay("the webhook endpoint was removed or disabled")
        if self.config.cipher is None:
            raise TransientSendError("no STRIDEWISE_SECRET_KEY: webhook secrets are locked")
        secret = self.config.cipher.decrypt_json(endpoint.secret)["secret"]
        # Signed at the wall clock whatever ``now`` says: receivers check freshness.
        stamp = utcnow()
        payload = body(message.event, message.data, stamp)
        post(self.http, endpoint.url, secret, outbox.webhook_id(row.key), payload, stamp)

    def close(self) -> None:
        self.smtp.close()
        self.http.close()


def deliver_once(
    factory: sessionmaker[Session],
    config: DeliveryConfig,
    worker: str,
    now: datetime | None = None,
    clock: Callable[[], datetime] = utcnow,
    limit: int | None = None,
) -> DeliveryReport:
    """Send everything due at ``now`` (default: the clock), batch after batch, until
    nothing is due or ``limit`` rows were handled."""
    report = DeliveryReport()
    channels = Channels(config)
    handled = 0
    try:
        while limit is None or handled < limit:
            at = now or clock()
            batch = outbox.claim(factory, worker, at, config.batch, config.lease_seconds)
            if not batch:
                break
            for row in batch:
                report.outcomes[handle(factory, channels, row, worker, now or clock())] += 1
            handled += len(batch)
    finally:
        channels.close()
    return report


def handle(factory, channels: Channels, row: outbox.Claimed, worker: str, now) -> str:
    config = channels.config
    try:
        with factory() as session:
            if row.patient_id and row.kind == "patient_daily":
                slot = _patient_slot(session, row, now, config)
                if slot > now:  # not an attempt: back to waiting, until its slot
                    outbox.finish(
                        session, row.id, worker, status="pending", next_attempt_at=slot,
                        attempts=row.attempts - 1,
                    )  # fmt: skip
                    session.commit()
                    return "held"
            message = compose(session, row, now, config.public_url, config.links)
            channels.send(session, row, message)
    except outbox.LeaseLost:
        return "lost"
    except NothingToSay as why:
        return _finish(factory, row, worker, "cancelled", last_error=str(why))
    except EndpointGone as err:
        _disable(factory, int(row.recipient), str(err))
        return _finish(factory, row, worker, "dead", last_error=str(err))
    except PermanentSendError as err:
        return _finish(factory, row, worker, "dead", last_error=str(err))
    except Exception as err:  # transient, or a bug composing one row: retry, then dead
        reason = str(err) if isinstance(err, TransientSendError) else f"{type(err).__name__}: {err}"
        if row.attempts >= config.max_attempts:
            reason = f"gave up after {row.attempts} attempts: {reason}"
            return _finish(factory, row, worker, "dead", last_error=reason)
        wait = outbox.backoff(row.attempts, config.base_backoff_s, config.max_backoff_s)
        return _finish(
            factory, row, worker, "failed", last_error=reason, next_attempt_at=now + wait
        )
    record_sent(factory, row, worker, message, now)
    return "sent"


def record_sent(factory, row: outbox.Claimed, worker: str, message: Composed, now) -> None:
    """Commit the send. A crash before this line re-sends the row once its lease runs
    out, with the same Message-ID / webhook-id: the at-least-once boundary."""
    try:
        with transaction(factory) as session:
            outbox.finish(session, row.id, worker, status="sent", sent_at=now, last_error=None)
            for alert_id in message.alert_ids:
                session.add(AlertDelivery(alert_id=alert_id, outbox_id=row.id, retraction=False))
            for alert_id in message.retracted_ids:
                session.add(AlertDelivery(alert_id=alert_id, outbox_id=row.id, retraction=True))
    except outbox.LeaseLost:
        log.warning("delivery.lease_lost_after_send", outbox_id=row.id, worker=worker)


def _finish(factory, row, worker, status: str, **values) -> str:
    try:
        with transaction(factory) as session:
            outbox.finish(session, row.id, worker, status=status, **values)
    except outbox.LeaseLost:
        return "lost"
    if status in ("dead", "failed"):
        log.warning(
            "delivery.failed", outbox_id=row.id, status=status, attempts=row.attempts,
            reason=values.get("last_error"),
        )  # fmt: skip
    return status


def _disable(factory, endpoint_id: int, reason: str) -> None:
    with transaction(factory) as session:
        endpoint = session.get(WebhookEndpoint, endpoint_id)
        if endpoint is not None:
            endpoint.active, endpoint.disabled_reason = False, reason


def _patient_slot(session: Session, row: outbox.Claimed, now, config: DeliveryConfig):
    patient = session.get(Patient, row.patient_id)
    last_sent = session.scalar(
        select(func.max(OutboxMessage.sent_at)).where(
            OutboxMessage.patient_id == row.patient_id,
            OutboxMessage.kind == "patient_daily",
            OutboxMessage.status == "sent",
        )
    )
    return next_patient_slot(
        now, patient_zone(patient.timezone), config.quiet_start, config.quiet_end, last_sent
    )
