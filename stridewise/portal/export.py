"""Everything stridewise holds about one patient, for them to download: who they
are, their linked accounts (never credentials), days and intervals, pain reports,
exempt days and alerts. JSON holds it all; the CSV is one sheet of dated records."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from datetime import date

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ingest import export as steps_export
from ingest.models import DailyTotalRow, PainReport, StepIntervalRow
from ingest.patients import get_patient
from ingest.programme_models import Alert, ExemptDay
from rules.messages import render


def _first_day(session: Session, patient_id: str, today: date) -> date:
    firsts = [
        session.scalar(select(func.min(col)).where(model.patient_id == patient_id))
        for model, col in (
            (StepIntervalRow, StepIntervalRow.local_date),
            (DailyTotalRow, DailyTotalRow.local_date),
        )
    ]
    return min([d for d in firsts if d is not None] + [today])


def everything(
    session: Session, patient_id: str, today: date, source_priority: Sequence[str]
) -> dict:
    patient = get_patient(session, patient_id)
    steps = steps_export.collect(
        session, patient_id, _first_day(session, patient_id, today), today, source_priority
    )
    alerts = session.scalars(
        select(Alert).where(Alert.patient_id == patient_id).order_by(Alert.created_at)
    )
    pain = session.scalars(
        select(PainReport)
        .where(PainReport.patient_id == patient_id)
        .order_by(PainReport.reported_at)
    )
    exempt = session.scalars(
        select(ExemptDay).where(ExemptDay.patient_id == patient_id).order_by(ExemptDay.local_date)
    )
    return {
        "patient": {
            "id": patient.id,
            "name": patient.name,
            "timezone": patient.timezone,
            "therapist": patient.therapist_id,
            "programme": patient.programme,
            "created_at": patient.created_at.isoformat(),
        },
        "accounts": [
            {
                "provider": a.provider,
                "status": a.status,
                "linked_at": a.created_at.isoformat(),
                "last_success_at": a.last_success_at.isoformat() if a.last_success_at else None,
            }
            for a in patient.accounts
        ],
        "days": steps["days"],
        "intervals": steps["intervals"],
        "pain_reports": [
            {"at": p.reported_at.isoformat(), "score": p.score, "note": p.note} for p in pain
        ],
        "exempt_days": [
            {"date": e.local_date.isoformat(), "reason": e.reason, "note": e.note} for e in exempt
        ],
        "alerts": [
            {
                "for": a.audience,
                "rule": a.rule,
                "status": a.status,
                "raised_at": a.created_at.isoformat(),
                "message": render(a, today).text,
            }
            for a in alerts
        ],
    }


def to_json(data: dict) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)


def to_csv(data: dict) -> str:
    """One row per dated record: ``record, date, value, detail``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["record", "date", "value", "detail"])
    for d in data["days"]:
        writer.writerow(["steps", d["date"], d["steps"], f"{d['source']} ({d['basis']})"])
    for p in data["pain_reports"]:
        writer.writerow(["pain", p["at"], p["score"], p["note"] or ""])
    for e in data["exempt_days"]:
        writer.writerow(["exempt day", e["date"], e["reason"], e["note"] or ""])
    for a in data["alerts"]:
        writer.writerow([f"alert for {a['for']}", a["raised_at"], a["status"], a["message"]])
    for a in data["accounts"]:
        writer.writerow(["linked account", a["linked_at"], a["provider"], a["status"]])
    return out.getvalue()
