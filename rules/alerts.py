"""Findings become alert records, idempotently.

Keyed (patient, rule, period, audience): a finding found again changes
nothing; a fresh finding with no record becomes an open alert; an open or
acknowledged alert whose finding no longer holds (a late sync revised the days
behind it) is withdrawn, kept, with the reason; a withdrawn alert whose finding
holds again is reopened. State rules (``no_sync``, ``disconnected``) describe
an event, not data a backfill can revise, so they are never withdrawn here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ingest.programme_models import Alert

STATE_RULES = frozenset({"no_sync", "disconnected"})
ACTIVE = ("open", "acknowledged")


@dataclass
class AlertChanges:
    new: list[Alert] = field(default_factory=list)
    still_open: list[Alert] = field(default_factory=list)
    withdrawn: list[Alert] = field(default_factory=list)
    reopened: list[Alert] = field(default_factory=list)


def apply_findings(
    session: Session,
    findings: pd.DataFrame,
    patient_ids: Iterable[str],
    settled_through: dict[str, date],
) -> AlertChanges:
    """Bring the stored alerts of ``patient_ids`` in line with ``findings``.

    ``findings`` must hold every finding over the patients' whole history (fresh
    or not) plus ``period_end`` (date); only fresh ones create new alerts. Alerts
    whose period ends after a patient's ``settled_through`` date are about days
    that may still change, so they are never withdrawn yet.
    """
    ids = list(patient_ids)
    changes = AlertChanges()
    if not ids:
        return changes
    stored = {
        (a.patient_id, a.rule, a.period, a.audience): a
        for a in session.scalars(select(Alert).where(Alert.patient_id.in_(ids)))
    }
    found_keys = set()
    for row in findings.to_dict("records"):
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
                    message=row["message"],
                    status="open",
                )
                session.add(alert)
                stored[key] = alert
                changes.new.append(alert)
        elif alert.status == "withdrawn":
            alert.status, alert.withdrawn_reason = "open", None
            changes.reopened.append(alert)
        else:
            changes.still_open.append(alert)
    for key, alert in stored.items():
        if (
            key in found_keys
            or alert.status not in ACTIVE
            or alert.rule in STATE_RULES
            or alert.period_end > settled_through.get(alert.patient_id, date.min)
        ):
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


def alert_record(alert: Alert) -> dict:
    """The stable JSON shape of an alert (``stridewise alerts list --format json``)."""
    return {
        "id": alert.id,
        "patient": alert.patient_id,
        "rule": alert.rule,
        "period": alert.period,
        "audience": alert.audience,
        "severity": alert.severity,
        "status": alert.status,
        "message": alert.message,
        "withdrawn_reason": alert.withdrawn_reason,
        "created_at": alert.created_at.isoformat() if alert.created_at else None,
    }
