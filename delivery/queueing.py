"""Deciding what to send: outbox rows for patients after their daily rules run, for
therapists' urgent alerts at once, and for each therapist's weekly report on their
local Monday from 08:00. Every row's key is derived from what it carries, so
running any of these again (or in two replicas) queues nothing twice."""

from __future__ import annotations

import hashlib
from collections import Counter
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import patient_zone
from delivery.hygiene import is_urgent
from delivery.outbox import enqueue
from delivery.webhooks import active_endpoints
from ingest.delivery_models import AlertDelivery, OutboxMessage
from ingest.models import Patient, Therapist
from ingest.programme_models import Alert
from reports.weeks import previous_week, week_label

ACTIVE = ("open", "acknowledged")
# A patient hears about a finding while it is news; older open alerts stay unsent.
PATIENT_NEWS = timedelta(days=1)
URGENT_NEWS = timedelta(days=7)
REPORT_HOUR = 8


def _digest(values) -> str:
    return hashlib.sha256(",".join(map(str, values)).encode()).hexdigest()[:16]


def queue_patient_messages(
    session: Session, patient_ids: list[str], now: datetime, summary: bool | None = None
) -> int:
    """One message per patient combining their new findings (and, on their local Monday,
    last week's summary; ``summary`` True/False: whatever the day); joined into a row
    still waiting rather than a second one."""
    queued = 0
    patients = session.scalars(
        select(Patient).where(Patient.id.in_(patient_ids), Patient.email.is_not(None))
    )
    for patient in patients:
        local = now.astimezone(patient_zone(patient.timezone))
        rows = list(
            session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.patient_id == patient.id,
                    OutboxMessage.kind == "patient_daily",
                )
            )
        )
        carried = {i for r in rows for i in r.payload.get("alert_ids", [])}
        fresh = [
            a.id
            for a in session.scalars(
                select(Alert)
                .where(
                    Alert.patient_id == patient.id,
                    Alert.audience == "patient",
                    Alert.status.in_(ACTIVE),
                    # Held back by the rules' weekly alert budget.
                    Alert.muted.is_(False),
                    Alert.created_at >= now - PATIENT_NEWS,
                )
                .order_by(Alert.id)
            )
            if a.id not in carried
        ]
        due = local.weekday() == 0 if summary is None else summary
        week = week_label(previous_week(local.date())) if due else None
        if week and any(r.payload.get("summary_week") == week for r in rows):
            week = None
        if not fresh and not week:
            continue
        waiting = next((r for r in rows if r.status in ("pending", "failed")), None)
        if waiting is not None:
            payload = dict(waiting.payload)
            payload["alert_ids"] = sorted({*payload.get("alert_ids", []), *fresh})
            if week:
                payload["summary_week"] = week
            waiting.payload = payload
            queued += 1
            continue
        key = (
            f"patient-week:{patient.id}:{week}:{patient.email}"
            if week
            else f"patient-day:{patient.id}:{local.date()}:{patient.email}:{_digest(fresh)}"
        )
        payload = {"alert_ids": fresh, "local_date": local.date().isoformat()}
        if week:
            payload["summary_week"] = week
        row = enqueue(
            session, key=key, channel="email", kind="patient_daily", recipient=patient.email,
            payload=payload, not_before=now, patient_id=patient.id,
            therapist_id=patient.therapist_id,
        )  # fmt: skip
        queued += row is not None
    session.flush()
    return queued


def _therapist_targets(session: Session, therapist: Therapist) -> list[tuple[str, str]]:
    """(channel, recipient) pairs: the therapist's email and each active webhook."""
    return [("email", therapist.email)] + [
        ("webhook", str(e.id)) for e in active_endpoints(session, therapist.id)
    ]


def queue_urgent(session: Session, now: datetime) -> int:
    """Each recent, open, urgent therapist alert to every target of the therapist, once."""
    queued = 0
    delivered = select(AlertDelivery.alert_id)
    rows = session.execute(
        select(Alert, Patient.therapist_id)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(
            Alert.audience == "therapist",
            Alert.status.in_(ACTIVE),
            Alert.created_at >= now - URGENT_NEWS,
            Alert.id.not_in(delivered),
        )
        .order_by(Alert.id)
    ).all()
    for alert, therapist_id in rows:
        if not is_urgent(alert.rule, alert.severity):
            continue
        therapist = session.get(Therapist, therapist_id)
        for channel, recipient in _therapist_targets(session, therapist):
            row = enqueue(
                session, key=f"urgent:{alert.id}:{channel}:{recipient}", channel=channel,
                kind="therapist_urgent", recipient=recipient, payload={"alert_id": alert.id},
                not_before=now, therapist_id=therapist.id, patient_id=alert.patient_id,
            )  # fmt: skip
            queued += row is not None
    session.flush()
    return queued


def therapist_zone(session: Session, therapist: Therapist):
    """The therapist's own zone, else their patients' most common one (UTC if none)."""
    if therapist.timezone:
        return patient_zone(therapist.timezone)
    zones = Counter(
        session.scalars(select(Patient.timezone).where(Patient.therapist_id == therapist.id))
    )
    zones.pop(None, None)
    return patient_zone(zones.most_common(1)[0][0] if zones else None)


def queue_weekly(session: Session, now: datetime, therapist_id: str | None = None) -> int:
    """Last week's report to each therapist whose local clock has passed Monday 08:00
    (``therapist_id``: that one only, whatever the day: an explicit request)."""
    queued = 0
    query = select(Therapist).order_by(Therapist.id)
    if therapist_id:
        query = query.where(Therapist.id == therapist_id)
    for therapist in session.scalars(query):
        local = now.astimezone(therapist_zone(session, therapist))
        if therapist_id is None and (local.weekday() != 0 or local.hour < REPORT_HOUR):
            continue
        week = week_label(previous_week(local.date()))
        for channel, recipient in _therapist_targets(session, therapist):
            row = enqueue(
                session, key=f"weekly:{therapist.id}:{week}:{channel}:{recipient}",
                channel=channel, kind="therapist_weekly", recipient=recipient,
                payload={"week": week}, not_before=now, therapist_id=therapist.id,
            )  # fmt: skip
            queued += row is not None
    session.flush()
    return queued
