"""What therapists and patients receive, through the real outbox and a real SMTP
server: the weekly report email in all its parts, one message a day, quiet hours,
and withdrawn alerts (before sending: dropped; after: the next digest says so)."""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from delivery_support import FLARE, add_alert, config_for, seed_people, smtp_server, write_day
from pypdf import PdfReader
from sqlalchemy import select

from delivery.queueing import queue_patient_messages, queue_urgent, queue_weekly
from delivery.worker import deliver_once
from ingest.db import transaction
from ingest.delivery_models import OutboxMessage
from ingest.patients import set_therapist_timezone
from ingest.programme_models import Alert
from rules.enrolment import start_programme

MONDAY = date(2026, 11, 16)
REPORT_TIME = datetime(2026, 11, 23, 8, 30, tzinfo=UTC)  # Monday 08:30 in London


def _rows(factory, **where) -> list[OutboxMessage]:
    with factory() as session:
        query = select(OutboxMessage).filter_by(**where).order_by(OutboxMessage.id)
        return list(session.scalars(query))


def _withdraw(factory, alert_id: int) -> None:
    with transaction(factory) as session:
        alert = session.get(Alert, alert_id)
        alert.status, alert.withdrawn_reason = "withdrawn", "later data revised the days"


def test_a_therapists_own_zone_sets_when_their_report_is_due(factory):
    """Patients in London, therapist in Sydney: Monday 08:00 in Sydney is Sunday
    21:00 in London. Without a zone of their own the patients' zone stands in."""
    seed_people(factory, patients=1)
    sydney_monday_8 = datetime(2026, 11, 22, 21, 0, tzinfo=UTC)
    with transaction(factory) as session:
        assert queue_weekly(session, sydney_monday_8) == 0  # Sunday night in London
        set_therapist_timezone(session, "T1", "Australia/Sydney")
        assert queue_weekly(session, sydney_monday_8 - timedelta(minutes=1)) == 0
        assert queue_weekly(session, sydney_monday_8) == 1
        set_therapist_timezone(session, "T1", None)
        assert queue_weekly(session, REPORT_TIME) == 0  # that week's report is queued once
    [row] = _rows(factory, kind="therapist_weekly")
    assert row.payload == {"week": "2026-W47"}  # the week just ended in Sydney


def test_weekly_report_email_has_text_html_inline_charts_and_attachments(factory):
    seed_people(factory, patients=2)
    with transaction(factory) as session:
        for pid in ("P0", "P1"):
            start_programme(session, pid, MONDAY - timedelta(days=14))
    for back in range(14):
        write_day(factory, "P0", "Europe/London", MONDAY + timedelta(days=6 - back), 30, (7, 21))
    with transaction(factory) as session:
        assert queue_weekly(session, REPORT_TIME - timedelta(hours=1)) == 0  # 07:30: too early
        assert queue_weekly(session, REPORT_TIME) == 1
        assert queue_weekly(session, REPORT_TIME + timedelta(hours=1)) == 0  # once a week
    with smtp_server() as (mailbox, port):
        assert deliver_once(factory, config_for(port), "w1", REPORT_TIME).sent == 1
    [message] = mailbox.messages
    assert message["To"] == "ana@clinic.test"
    assert message["Subject"].startswith("Weekly walking report 2026-W47:")
    assert message.get_content_type() == "multipart/mixed"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "Sam P0" in text and "Sam P1" in text
    assert "Sam P0" in html and 'src="cid:chart-P0"' in html
    related = next(p for p in message.walk() if p.get_content_type() == "multipart/related")
    images = {
        p["Content-ID"]: p.get_content()
        for p in related.iter_parts()
        if p.get_content_maintype() == "image"
    }
    assert set(images) == {"<chart-P0>", "<chart-P1>"}
    assert all(png.startswith(b"\x89PNG") for png in images.values())
    attachments = {p.get_filename(): p for p in message.iter_attachments()}
    assert set(attachments) == {"walking-report-2026-W47.pdf", "walking-report-2026-W47.csv"}
    pdf = PdfReader(io.BytesIO(attachments["walking-report-2026-W47.pdf"].get_content()))
    assert "Sam P0" in " ".join(page.extract_text() for page in pdf.pages)
    csv_text = attachments["walking-report-2026-W47.csv"].get_content()
    if isinstance(csv_text, bytes):
        csv_text = csv_text.decode()
    assert csv_text.count("\n") == 1 + 14


def test_one_message_a_day_combining_the_days_findings(factory):
    seed_people(factory)
    morning = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    add_alert(factory, "P0", "flare", "patient", created_at=morning)
    add_alert(factory, "P0", "boom_bust", "patient", period="2026-11-18", created_at=morning)
    with transaction(factory) as session:
        assert queue_patient_messages(session, ["P0"], morning) == 1
    with smtp_server() as (mailbox, port):
        config = config_for(port)
        deliver_once(factory, config, "w1", morning)
        # A new finding at noon: queued, but held to the next local morning.
        noon = morning + timedelta(hours=3)
        streak = {"days": 3, "start": "2026-11-17", "end": "2026-11-19"}
        add_alert(factory, "P0", "inactive_streak", "patient", period="2026-11-19",
                  created_at=noon, facts=streak)  # fmt: skip
        with transaction(factory) as session:
            queue_patient_messages(session, ["P0"], noon)
        assert deliver_once(factory, config, "w1", noon).outcomes == {"held": 1}
        assert deliver_once(factory, config, "w1", noon + timedelta(hours=6)).outcomes == {}
        held = _rows(factory, status="pending")[0]
        assert held.next_attempt_at == datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
        assert held.attempts == 0
        assert deliver_once(factory, config, "w1", held.next_attempt_at).sent == 1
    first, second = mailbox.messages
    assert first["Subject"] == "Your day"
    body = first.get_body(("plain",)).get_content()
    assert "Sorry your back is sore" in body
    assert "boom-bust" in body
    assert "a few days without a longer walk" in second.get_body(("plain",)).get_content()


def test_alerts_muted_by_the_weekly_budget_are_not_sent_to_the_patient(factory):
    seed_people(factory)
    now = datetime(2026, 11, 19, 9, 0, tzinfo=UTC)
    add_alert(factory, "P0", "boom_bust", "patient", created_at=now, muted=True)
    with transaction(factory) as session:
        assert queue_patient_messages(session, ["P0"], now, summary=False) == 0
    assert _rows(factory) == []


def test_quiet_hours_hold_a_patient_message_to_their_morning(factory):
    seed_people(factory, zone="America/New_York")
    late = datetime(2026, 11, 20, 3, 30, tzinfo=UTC)  # 22:30 in New York
    add_alert(factory, "P0", "flare", "patient", created_at=late)
    with transaction(factory) as session:
        queue_patient_messages(session, ["P0"], late)
    with smtp_server() as (mailbox, port):
        assert deliver_once(factory, config_for(port), "w1", late).outcomes == {"held": 1}
        assert mailbox.messages == []
        slot = _rows(factory)[0].next_attempt_at
        assert slot == datetime(2026, 11, 20, 13, 0, tzinfo=UTC)  # 08:00 EST
        assert deliver_once(factory, config_for(port), "w1", slot).sent == 1


def test_withdrawn_before_sending_is_not_sent(factory):
    seed_people(factory)
    now = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    alert = add_alert(factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=now)
    with transaction(factory) as session:
        queue_urgent(session, now)
    _withdraw(factory, alert)
    with smtp_server() as (mailbox, port):
        assert deliver_once(factory, config_for(port), "w1", now).outcomes == {"cancelled": 1}
    assert mailbox.messages == []
    assert "withdrawn" in _rows(factory)[0].last_error


def test_withdrawn_after_sent_is_taken_back_in_the_next_digest_once(factory):
    seed_people(factory)
    with transaction(factory) as session:
        start_programme(session, "P0", MONDAY - timedelta(days=14))
    sent_at = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
    alert = add_alert(
        factory, "P0", "flare", "therapist", "urgent", facts=FLARE, created_at=sent_at
    )
    with transaction(factory) as session:
        queue_urgent(session, sent_at)
    with smtp_server() as (mailbox, port):
        config = config_for(port)
        assert deliver_once(factory, config, "w1", sent_at).sent == 1
        _withdraw(factory, alert)
        with transaction(factory) as session:
            queue_weekly(session, REPORT_TIME)
        assert deliver_once(factory, config, "w1", REPORT_TIME).sent == 1
        next_week = REPORT_TIME + timedelta(days=7)
        with transaction(factory) as session:
            queue_weekly(session, next_week)
        assert deliver_once(factory, config, "w1", next_week).sent == 1
    urgent, digest, later = mailbox.messages
    assert "Pain flare on 2026-11-20" in urgent.get_body(("plain",)).get_content()
    text = digest.get_body(("plain",)).get_content()
    assert "no longer holds: Pain flare" in text
    assert "No longer holds" in digest.get_body(("html",)).get_content()
    assert "no longer holds" not in later.get_body(("plain",)).get_content()
