"""Real receivers on loopback for the delivery tests: an aiosmtpd SMTP server that
keeps (or refuses, or drops) what it gets, and an HTTP server that verifies
Standard Webhooks signatures with the ``standardwebhooks`` package."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from zoneinfo import ZoneInfo

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from delivery.config import DeliveryConfig, SmtpConfig
from ingest.db import transaction
from ingest.models import Patient, Therapist
from ingest.programme_models import Alert


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Mailbox:
    """What the SMTP server accepted, parsed; and how it should behave."""

    messages: list[EmailMessage] = field(default_factory=list)
    # None: accept; "451"/"550": refuse at RCPT; "drop": hang up during DATA.
    mode: str | None = None
    refusals: int = 0

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.mode in ("451", "550"):
            self.refusals += 1
            return f"{self.mode} {'try again later' if self.mode == '451' else 'no such user'}"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        if self.mode == "drop":
            self.refusals += 1
            server.transport.close()
            return "421 closing"
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 Message accepted for delivery"


@contextmanager
def smtp_server(mailbox: Mailbox | None = None) -> Iterator[tuple[Mailbox, int]]:
    mailbox = mailbox or Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, port
    finally:
        controller.stop()


def config_for(port: int, **overrides) -> DeliveryConfig:
    values = {
        "smtp": SmtpConfig(host="127.0.0.1", port=port, timeout_s=5),
        "mail_from": "stridewise <noreply@clinic.test>",
        "max_attempts": 3,
        "quiet_start": time(21),
        "quiet_end": time(8),
        "base_backoff_s": 60,
    }
    return DeliveryConfig(**{**values, **overrides})


@dataclass
class Receiver:
    """Webhook receiver state: verified events, rejections, and the status it answers."""

    secret: str = ""
    events: list[dict] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    answer: int = 204
    tamper: bool = False


@contextmanager
def webhook_server(receiver: Receiver) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["content-length"]))
            if receiver.tamper:
                raw = raw.replace(b'"P0"', b'"P9"')
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                event = Webhook(receiver.secret).verify(raw, headers)
            except WebhookVerificationError as err:
                receiver.rejected.append(str(err))
                self.send_response(400)
                self.end_headers()
                return
            receiver.events.append(event)
            receiver.ids.append(headers["webhook-id"])
            self.send_response(receiver.answer)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


def seed_people(factory, patients: int = 1, zone: str = "Europe/London") -> list[str]:
    """Therapist T1 and patients P0..: each with an email."""
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Ana Silva", email="ana@clinic.test"))
        session.flush()
        ids = [f"P{i}" for i in range(patients)]
        for pid in ids:
            session.add(
                Patient(
                    id=pid,
                    name=f"Sam {pid}",
                    timezone=zone,
                    therapist_id="T1",
                    email=f"{pid.lower()}@home.test",
                )
            )
    return ids


def add_alert(
    factory,
    patient_id: str,
    rule: str,
    audience: str,
    severity: str = "info",
    period: str = "2026-11-20",
    created_at: datetime | None = None,
    facts: dict | None = None,
    muted: bool = False,
) -> int:
    """An alert as the rules store it (facts, no words)."""
    with transaction(factory) as session:
        alert = Alert(
            patient_id=patient_id,
            rule=rule,
            period=period,
            period_end=datetime.fromisoformat(period).date(),
            audience=audience,
            severity=severity,
            facts=facts or {},
            status="open",
            raised_on=datetime.fromisoformat(period).date(),
            muted=muted,
            created_at=created_at or datetime.now(UTC),
        )
        session.add(alert)
        session.flush()
        return alert.id


FLARE = {"day": "2026-11-20", "kind": "high", "score": 8}


def write_day(factory, patient_id: str, zone: str, day, walk_minutes: int, wear: tuple[int, int]):
    """One local day of minute data: 10 steps every third minute while worn (hours
    ``wear``), plus one walk of ``walk_minutes`` at 110 steps/min from 10:00.
    Returns the day's step total as written."""
    from core.schema import StepBatch, StepInterval
    from ingest.store import write_batch

    tz = ZoneInfo(zone)
    steps: dict[datetime, int] = {}
    t = datetime.combine(day, time(wear[0]), tz).astimezone(UTC)
    off = datetime.combine(day, time(wear[1]), tz).astimezone(UTC)
    i = 0
    while t < off:
        if i % 3 == 0:
            steps[t] = 10
        t, i = t + timedelta(minutes=1), i + 1
    walk = datetime.combine(day, time(10), tz).astimezone(UTC)
    for m in range(walk_minutes):
        steps[walk + timedelta(minutes=m)] = 110
    batch = StepBatch()
    for start, n in sorted(steps.items()):
        offset = int(start.astimezone(tz).utcoffset().total_seconds())
        batch.intervals.append(
            StepInterval(patient_id, "csv", "watch", start, start + timedelta(minutes=1), offset, n)
        )
    with transaction(factory) as session:
        write_batch(session, batch)
    return sum(steps.values())
