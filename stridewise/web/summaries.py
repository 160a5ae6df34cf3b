"""Caseload summaries: the rules run once for a batch of patients and each patient's
dashboard figures are stored (``CaseloadSummary``), so the dashboard is one query
per table whatever the caseload. Refreshed by a scheduler job after syncs (see
``stale_patients``) and whenever a patient's page is opened."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from ingest.access_models import CaseloadSummary
from ingest.db import transaction
from ingest.jobclaims import claim_many, finish
from ingest.models import LinkedAccount, Patient
from ingest.programme_models import ExemptDay
from rules.evaluate import Assessment, assess
from rules.programme import week_summary

SPARK_DAYS = 28
DATA_DAYS = 30


def _iso(value) -> str | None:
    return None if value is None or pd.isna(value) else pd.Timestamp(value).date().isoformat()


def day_status(row, exempt: set[date]) -> str:
    """valid / low_wear / missing / provisional, or exempt when the patient said so."""
    day = pd.Timestamp(row.local_date).date()
    return "exempt" if day in exempt else str(row.status)


def figures_for(result: Assessment, patient_id: str, exempt: set[date]) -> dict:
    """One patient's dashboard figures from an assessment of their batch."""
    today = result.today.get(patient_id)
    days = result.days[result.days["patient_id"] == patient_id] if not result.days.empty else None
    out: dict = {"level": None, "walks_planned": None, "walks_done": None,
                 "minutes_planned": None, "phase": None, "days_with_data": 0,
                 "last_data": None, "spark": []}  # fmt: skip
    if today is None or days is None or days.empty:
        return out
    by_date = {pd.Timestamp(r.local_date).date(): r for r in days.itertuples(index=False)}
    spark = []
    for offset in range(SPARK_DAYS - 1, -1, -1):
        day = today - timedelta(days=offset)
        row = by_date.get(day)
        if row is None:
            spark.append([day.isoformat(), None, "none"])
            continue
        steps = None if pd.isna(row.steps) else int(row.steps)
        spark.append([day.isoformat(), steps, day_status(row, exempt)])
    recent = days[days["local_date"] > pd.Timestamp(today - timedelta(days=DATA_DAYS))]
    with_data = recent[recent["steps"].fillna(0) > 0]
    out["days_with_data"] = len(with_data)
    has_data = days[days["steps"].fillna(0) > 0]
    out["last_data"] = _iso(has_data["local_date"].max()) if not has_data.empty else None
    out["spark"] = spark
    plan = result.plan[result.plan["patient_id"] == patient_id]
    if not plan.empty:
        week = week_summary(days, plan).iloc[-1]
        out.update(
            level=int(week["level"]), walks_planned=int(week["walks_planned"]),
            walks_done=int(0 if pd.isna(week["walks_done"]) else week["walks_done"]),
            minutes_planned=int(week["minutes_planned"]), phase=str(week["phase"]),
        )  # fmt: skip
    return out


def exempt_dates(session: Session, ids: list[str]) -> dict[str, set[date]]:
    found: dict[str, set[date]] = {pid: set() for pid in ids}
    for pid, day in session.execute(
        select(ExemptDay.patient_id, ExemptDay.local_date).where(ExemptDay.patient_id.in_(ids))
    ):
        found[pid].add(day)
    return found


def store_summaries(
    session: Session, patients: list[Patient], result: Assessment, now: datetime
) -> dict[str, dict]:
    """Write each patient's figures from ``result``; returns them by patient."""
    ids = [p.id for p in patients]
    exempt = exempt_dates(session, ids)
    existing = {
        s.patient_id: s
        for s in session.scalars(select(CaseloadSummary).where(CaseloadSummary.patient_id.in_(ids)))
    }
    out = {}
    for patient in patients:
        figures = figures_for(result, patient.id, exempt[patient.id])
        as_of = result.today.get(patient.id) or now.date()
        row = existing.get(patient.id)
        if row is None:
            session.add(CaseloadSummary(patient_id=patient.id, computed_at=now, as_of=as_of,
                                        figures=figures))  # fmt: skip
        else:
            row.computed_at, row.as_of, row.figures = now, as_of, figures
        out[patient.id] = figures
    return out


def refresh(factory: sessionmaker[Session], patient_ids: list[str], now: datetime | None = None):
    """Run the rules for these patients (one batch) and store their summaries."""
    now = now or utcnow()
    with transaction(factory) as session:
        patients = list(session.scalars(select(Patient).where(Patient.id.in_(patient_ids))))
        if patients:
            store_summaries(session, patients, assess(session, patients, now, cached=True), now)


def stale_patients(session: Session, now: datetime, max_age: timedelta) -> list[str]:
    """Patients with no summary, one older than ``max_age``, or an account synced
    since theirs was computed."""
    synced = (
        select(LinkedAccount.patient_id, func.max(LinkedAccount.last_success_at).label("synced"))
        .group_by(LinkedAccount.patient_id)
        .subquery()
    )
    query = (
        select(Patient.id)
        .outerjoin(CaseloadSummary, CaseloadSummary.patient_id == Patient.id)
        .outerjoin(synced, synced.c.patient_id == Patient.id)
        .where(
            or_(
                CaseloadSummary.patient_id.is_(None),
                CaseloadSummary.computed_at < now - max_age,
                synced.c.synced > CaseloadSummary.computed_at,
            )
        )
        .order_by(Patient.id)
    )
    return list(session.scalars(query))


# Replicas share the job through a claim per 5-minute slot (``ingest.jobclaims``): one
# of them refreshes in each slot; a crashed one's slot is left to the next.
CASELOAD_JOB = "caseload-summaries"
SLOT_MINUTES = 5


def refresh_stale(
    factory: sessionmaker[Session],
    worker: str = "web",
    batch: int = 50,
    now: datetime | None = None,
) -> int | None:
    """The scheduler job: refresh what is stale, ``batch`` patients per rules run; the
    number refreshed, or None when another replica holds this slot."""
    now = now or utcnow()
    slot = now.replace(minute=now.minute - now.minute % SLOT_MINUTES, second=0, microsecond=0)
    with transaction(factory) as session:
        won = claim_many(session, CASELOAD_JOB, [slot.isoformat()], worker, now, 60 * SLOT_MINUTES)
    if not won:
        return None
    with factory() as session:
        ids = stale_patients(session, now, timedelta(hours=1))
    for start in range(0, len(ids), batch):
        refresh(factory, ids[start : start + batch], now)
    with transaction(factory) as session:
        finish(session, CASELOAD_JOB, won, worker, "ok", utcnow())
    return len(ids)
