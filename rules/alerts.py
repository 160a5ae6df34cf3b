"""Findings become alert records, idempotently, one per episode.

Keyed (patient, rule, period, audience), the period naming an episode: a finding
found again updates the stored facts and changes nothing else; a fresh finding with
no record becomes an open alert (closed at once if its episode is already over); an
open or acknowledged alert whose finding says the episode has ended is closed
(``closed_at``); one whose finding no longer holds at all (a late sync revised the
days behind it) is withdrawn, kept, with the reason; a withdrawn alert whose finding
holds again is reopened. State rules (``no_sync``, ``disconnected``) describe the
accounts now, not data a backfill can revise: when their finding is gone the episode
has ended (closed).

A closed alert can still be withdrawn. The alert budget (principle 5): a patient
gets at most ``PATIENT_BUDGET`` new patient-facing alerts per calendar week (Monday
to Sunday of the evaluation's local date), flare and disconnected aside. When more
hold, ``PRIORITY`` decides: pacing first (boom-bust, overdoing: the findings that
prevent flares), then a sync gap (data at risk), then inactivity, the mid-week nudge
and maintenance. The rest are stored ``muted``: the therapist still sees them, the
patient is not told.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import utcnow
from ingest.programme_models import Alert
from rules.messages import PATIENT, render

STATE_RULES = frozenset({"no_sync", "disconnected"})
ACTIVE = ("open", "acknowledged")
PATIENT_BUDGET = 2
OUTSIDE_BUDGET = frozenset({"flare", "disconnected"})
PRIORITY = ("boom_bust", "overdoing", "no_sync", "inactive_streak", "under_target", "maintenance")


@dataclass
class AlertChanges:
    new: list[Alert] = field(default_factory=list)
    still_open: list[Alert] = field(default_factory=list)
    withdrawn: list[Alert] = field(default_factory=list)
    reopened: list[Alert] = field(default_factory=list)
    closed: list[Alert] = field(default_factory=list)


def _rank(row: dict) -> tuple:
    rule = row["rule"]
    return (PRIORITY.index(rule) if rule in PRIORITY else len(PRIORITY), row["period"])


def _budgeted(alert: Alert) -> bool:
    return (
        alert.audience == PATIENT
        and alert.rule not in OUTSIDE_BUDGET
        and not alert.muted
        and alert.status != "withdrawn"
    )


def apply_findings(
    session: Session,
    findings: pd.DataFrame,
    today: Mapping[str, date],
    settled_through: dict[str, date],
    now: datetime | None = None,
) -> AlertChanges:
    """Bring the stored alerts of the patients in ``today`` (their local dates) in line
    with ``findings``.

    ``findings`` must hold every finding over the patients' whole history (fresh
    or not) plus ``period_end`` (date); only fresh ones create new alerts. Alerts
    whose period ends after a patient's ``settled_through`` date are about days
    that may still change, so they are never withdrawn yet.
    """
    ids = list(today)
    changes = AlertChanges()
    if not ids:
        return changes
    now = now or utcnow()
    stored = {
        (a.patient_id, a.rule, a.period, a.audience): a
        for a in session.scalars(select(Alert).where(Alert.patient_id.in_(ids)))
    }
    used: dict[str, int] = {}
    for a in stored.values():
        monday = today[a.patient_id] - timedelta(days=today[a.patient_id].weekday())
        if _budgeted(a) and monday <= a.raised_on <= today[a.patient_id]:
            used[a.patient_id] = used.get(a.patient_id, 0) + 1
    found_keys = set()
    for row in sorted(findings.to_dict("records"), key=_rank):
        key = (row["patient_id"], row["rule"], row["period"], row["audience"])
        found_keys.add(key)
        alert = stored.get(key)
        if alert is None:
            if row["fresh"]:
                alert = Alert(
                    patient_id=row["patient_id"],
                    rule=row["rule"],
                    period=row["period"],
                    period_end=row["period_end"],
                    audience=row["audience"],
                    severity=row["severity"],
                    facts=row["facts"],
                    status="open" if row["ongoing"] else "closed",
                    closed_at=None if row["ongoing"] else now,
                    raised_on=today[row["patient_id"]],
                    muted=False,
                )
                if _budgeted(alert):
                    alert.muted = used.get(alert.patient_id, 0) >= PATIENT_BUDGET
                    used[alert.patient_id] = used.get(alert.patient_id, 0) + (not alert.muted)
                session.add(alert)
                stored[key] = alert
                changes.new.append(alert)
            continue
        if alert.facts != row["facts"] and alert.status != "closed":
            alert.facts, alert.period_end = row["facts"], row["period_end"]
        if alert.status == "withdrawn":
            alert.status, alert.withdrawn_reason = "open", None
            changes.reopened.append(alert)
        if alert.status in ACTIVE and not row["ongoing"]:
            alert.status, alert.closed_at = "closed", now
            changes.closed.append(alert)
        elif alert.status in ACTIVE and alert not in changes.reopened:
            changes.still_open.append(alert)
    for key, alert in stored.items():
        if key in found_keys or alert.status == "withdrawn":
            continue
        if alert.rule in STATE_RULES:
            if alert.status in ACTIVE:
                alert.status, alert.closed_at = "closed", now
                changes.closed.append(alert)
            continue
        if alert.period_end > settled_through.get(alert.patient_id, date.min):
            continue
        alert.status = "withdrawn"
        alert.withdrawn_reason = (
            "no longer holds: later data revised the days behind it (re-evaluated with "
            f"days settled through {settled_through[alert.patient_id]})"
        )
        changes.withdrawn.append(alert)
    session.flush()
    return changes


def list_alerts(session: Session, patient_id: str | None = None) -> list[Alert]:
    query = select(Alert).order_by(Alert.patient_id, Alert.created_at, Alert.id)
    if patient_id is not None:
        query = query.where(Alert.patient_id == patient_id)
    return list(session.scalars(query))


def alert_record(alert: Alert, as_of: date) -> dict:
    """The stable JSON shape of an alert (``stridewise alerts list --format json``), its
    message rendered as of the local date ``as_of``."""
    message = render(alert, as_of)
    return {
        "id": alert.id,
        "patient": alert.patient_id,
        "rule": alert.rule,
        "period": alert.period,
        "audience": alert.audience,
        "severity": alert.severity,
        "status": alert.status,
        "muted": alert.muted,
        "facts": alert.facts,
        "subject": message.subject,
        "message": message.text,
        "raised_on": alert.raised_on.isoformat(),
        "closed_at": alert.closed_at.isoformat() if alert.closed_at else None,
        "withdrawn_reason": alert.withdrawn_reason,
        "created_at": alert.created_at.isoformat() if alert.created_at else None,
    }
