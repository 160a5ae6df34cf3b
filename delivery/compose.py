"""Outbox rows into words, at send time: the row holds ids and periods, so a message
says what is true when it leaves (a withdrawn alert is left out, a report counts the
days synced since it was queued)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from delivery.composed import Attachment, Composed
from delivery.config import PatientLinks
from delivery.outbox import Claimed
from ingest.delivery_models import AlertDelivery, OutboxMessage
from ingest.models import Patient
from ingest.programme_models import Alert
from reports.render import (
    chart_cid,
    patient_summary,
    patient_week,
    weekly_csv,
    weekly_html,
    weekly_pdf,
    weekly_text,
)
from reports.weekly import build_weekly
from reports.weeks import parse_week
from reports.words import alert_words, local_date

ACTIVE = ("open", "acknowledged")


class NothingToSay(Exception):
    """Everything the row carried was withdrawn before it left: cancel it."""


def compose(
    session: Session,
    row: Claimed,
    now: datetime,
    public_url: str,
    links: PatientLinks | None = None,
) -> Composed:
    if row.kind == "patient_daily":
        return _patient_daily(session, row, now, links)
    if row.kind == "therapist_urgent":
        return _therapist_urgent(session, row, now, public_url)
    if row.kind == "therapist_weekly":
        return _therapist_weekly(session, row, now, public_url)
    raise ValueError(f"unknown message kind {row.kind!r}")


def _live_alerts(session: Session, ids: list[int]) -> list[Alert]:
    if not ids:
        return []
    return list(
        session.scalars(
            select(Alert).where(Alert.id.in_(ids), Alert.status.in_(ACTIVE)).order_by(Alert.id)
        )
    )


def _patient_links(links: PatientLinks | None, patient_id: str, alerts, now) -> list:
    """(label, url) for the message: a relink page when disconnected, then own data."""
    if links is None:
        return []
    out = []
    if any(a.rule == "disconnected" for a in alerts):
        relink = links.relink(patient_id, now)
        if relink:
            out.append(("Reconnect your watch", relink))
    out.append(
        ("See what stridewise holds about you, add a pain score", links.own_data(patient_id, now))
    )
    return out


def _patient_daily(session, row: Claimed, now, links: PatientLinks | None) -> Composed:
    patient = session.get(Patient, row.patient_id)
    alerts = _live_alerts(session, row.payload.get("alert_ids", []))
    today = local_date(now, patient.timezone)
    lines = [alert_words(a, today).text for a in alerts]
    week = row.payload.get("summary_week")
    if not week and not alerts:
        raise NothingToSay("the alerts it carried were withdrawn before sending")
    urls = _patient_links(links, patient.id, alerts, now)
    if week:
        report = build_weekly(
            session, patient.therapist_id, parse_week(week), now, patient_id=patient.id
        )
        summary = patient_summary(
            patient_week(report, patient.id), lines, f"cid:{chart_cid(patient.id)}", urls
        )
        return Composed(
            subject=summary.subject,
            text=summary.text,
            html=summary.html,
            images={chart_cid(patient.id): summary.chart_png},
            event="patient.weekly_summary",
            data={"patient": patient.id, "week": week},
            alert_ids=[a.id for a in alerts],
        )
    first = patient.name.split()[0] if patient.name else "there"
    text = f"Hello {first},\n\n" + "\n\n".join(lines) + "\n\n"
    text += "".join(f"{label}: {url}\n" for label, url in urls)
    text += ("\n" if urls else "") + "Your walking programme\n"
    return Composed(
        subject=alert_words(alerts[0], today).subject if len(alerts) == 1 else "Your day",
        text=text,
        event="patient.daily",
        data={"patient": patient.id, "alerts": [a.id for a in alerts]},
        alert_ids=[a.id for a in alerts],
    )


def _therapist_urgent(session, row: Claimed, now, public_url) -> Composed:
    alerts = _live_alerts(session, [row.payload["alert_id"]])
    if not alerts:
        raise NothingToSay("the alert was withdrawn before sending")
    alert = alerts[0]
    patient = session.get(Patient, alert.patient_id)
    words = alert_words(alert, local_date(now, patient.timezone))
    link = f"{public_url.rstrip('/')}/patients/{patient.id}"
    return Composed(
        subject=f"Urgent: {words.subject}: {patient.name}",
        text=f"{patient.name} ({patient.id})\n\n{words.text}\n\nOpen: {link}\n",
        event="alert.urgent",
        data={
            "alert": alert.id,
            "patient": patient.id,
            "rule": alert.rule,
            "period": alert.period,
            "text": words.text,
        },
        alert_ids=[alert.id],
    )


def sent_then_withdrawn(session: Session, recipient: str, therapist_id: str) -> frozenset[int]:
    """Alerts of this therapist's patients that a sent message to ``recipient`` carried,
    that no longer hold, and that no later message has taken back yet."""
    carried = (
        select(AlertDelivery.alert_id, AlertDelivery.retraction)
        .join(OutboxMessage, OutboxMessage.id == AlertDelivery.outbox_id)
        .join(Alert, Alert.id == AlertDelivery.alert_id)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(
            OutboxMessage.recipient == recipient,
            OutboxMessage.status == "sent",
            Patient.therapist_id == therapist_id,
            Alert.status == "withdrawn",
        )
    )
    told, taken_back = set(), set()
    for alert_id, retraction in session.execute(carried):
        (taken_back if retraction else told).add(alert_id)
    return frozenset(told - taken_back)


def _therapist_weekly(session, row: Claimed, now, public_url) -> Composed:
    monday: date = parse_week(row.payload["week"])
    retracted = sent_then_withdrawn(session, row.recipient, row.therapist_id)
    report = build_weekly(session, row.therapist_id, monday, now, retracted)
    html, images = weekly_html(report, for_email=row.channel == "email")
    attachments = []
    if row.channel == "email":
        attachments = [
            Attachment(f"walking-report-{report.week}.pdf", "application/pdf", weekly_pdf(report)),
            Attachment(
                f"walking-report-{report.week}.csv", "text/csv", weekly_csv(report).encode()
            ),
        ]
    return Composed(
        subject=f"Weekly walking report {report.week}: {len(report.needing_attention)} of "
        f"{len(report.patients)} patients need attention",
        text=weekly_text(report),
        html=html,
        images=images,
        attachments=attachments,
        event="report.weekly",
        data={
            "therapist": report.therapist_id,
            "week": report.week,
            "patients": [
                {
                    "patient": p.id,
                    "walks_done": p.walks_done,
                    "walks_planned": p.walks_planned,
                    "walking_minutes": p.walking_minutes,
                    "valid_days": p.valid_days,
                    "missing_days": p.missing_days,
                    "days_with_data_30": p.days_with_data_30,
                    "needs_attention": p.reasons,
                }
                for p in report.patients
            ],
            "withdrawn_alerts": sorted(retracted),
        },
        alert_ids=[a.id for p in report.patients for a in p.alerts],
        retracted_ids=sorted(retracted),
    )
