"""The therapist's REST API: patients, their days, accounts, alerts, pain reports.
Every route is scoped to the bearer token's therapist; anything else is 404."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated, Literal

import pandas as pd
from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select

from core.clock import local_today, utcnow
from ingest.models import LinkedAccount, Patient
from ingest.programme_models import Alert, ExemptDay
from rules.alerts import alert_record
from rules.evaluate import assess
from rules.messages import THERAPIST
from rules.reports import add_pain
from stridewise.day_records import day_records
from stridewise.web.api.ranges import checked_range
from stridewise.web.caseload import caseload
from stridewise.web.clinic import acknowledge, owned_alert, owned_patient
from stridewise.web.deps import ApiTherapist, SessionDep

router = APIRouter(tags=["clinic"])


class PatientOut(BaseModel):
    id: str
    name: str
    timezone: str | None
    link: str = Field(description="active, needs_relink, paused or none")
    last_sync: datetime | None
    open_alerts: int
    urgent_alerts: int
    walks_planned: int | None = Field(description="this programme week")
    walks_done: int | None
    days_with_data: int | None = Field(description="in the last 30 days")
    last_data: date | None


class DayOut(BaseModel):
    date: date
    status: str = Field(description="valid, low-wear, missing, provisional or exempt")
    wear_hours: int | None
    steps: int | None = Field(description="null when the watch was not worn: never 0")
    source: str | None
    walking_minutes: int | None
    bouts: int | None
    threshold_spm: int
    flags: list[str]


class AccountOut(BaseModel):
    provider: str
    status: str
    synced_through: date | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error_kind: str | None


class AlertOut(BaseModel):
    id: int
    patient: str
    rule: str
    period: str
    severity: str
    status: str
    subject: str
    message: str
    facts: dict
    raised_on: date
    closed_at: str | None
    created_at: str | None


class PainIn(BaseModel):
    score: int = Field(ge=0, le=10)
    note: str | None = Field(default=None, max_length=2000)
    at: datetime | None = Field(default=None, description="when; default now")


class PainOut(BaseModel):
    id: int
    patient: str
    score: int
    note: str | None
    reported_at: datetime


def _patients(session, therapist) -> list[PatientOut]:
    rows = caseload(session, therapist.id, utcnow())
    timezones = dict(
        session.execute(
            select(Patient.id, Patient.timezone).where(Patient.therapist_id == therapist.id)
        ).all()
    )
    return [
        PatientOut(
            id=r.id, name=r.name, timezone=timezones.get(r.id), link=r.link,
            last_sync=r.last_sync, open_alerts=len(r.open_alerts), urgent_alerts=r.urgent,
            walks_planned=r.figures.get("walks_planned"), walks_done=r.figures.get("walks_done"),
            days_with_data=r.figures.get("days_with_data"), last_data=r.figures.get("last_data"),
        )
        for r in rows
    ]  # fmt: skip


@router.get("/patients", summary="The caller's patients, most in need first")
def list_patients(session: SessionDep, therapist: ApiTherapist) -> list[PatientOut]:
    return _patients(session, therapist)


@router.get("/patients/{patient_id}", summary="One patient")
def get_patient(patient_id: str, session: SessionDep, therapist: ApiTherapist) -> PatientOut:
    owned_patient(session, therapist, patient_id)
    return next(p for p in _patients(session, therapist) if p.id == patient_id)


@router.get("/patients/{patient_id}/days", summary="Day by day, as `stridewise days` shows")
def patient_days(
    patient_id: str,
    session: SessionDep,
    therapist: ApiTherapist,
    first: Annotated[date | None, Query(alias="from", description="first local date")] = None,
    last: Annotated[date | None, Query(alias="to", description="last local date")] = None,
) -> list[DayOut]:
    patient = owned_patient(session, therapist, patient_id)
    today = local_today(utcnow(), patient.timezone)
    last = last or today
    first, last = checked_range(first or last - timedelta(days=27), last, today)
    result = assess(session, [patient], utcnow(), last, cached=True)
    if result.days.empty:
        return []
    days = result.days
    days = days[
        (days["local_date"] >= pd.Timestamp(first)) & (days["local_date"] <= pd.Timestamp(last))
    ]
    exempt = set(
        session.scalars(select(ExemptDay.local_date).where(ExemptDay.patient_id == patient_id))
    )
    threshold = int(result.params.at[patient_id, "cadence_threshold"])
    return [DayOut(**r) for r in day_records(days, threshold, exempt)]


@router.get("/patients/{patient_id}/accounts", summary="The patient's linked accounts")
def patient_accounts(
    patient_id: str, session: SessionDep, therapist: ApiTherapist
) -> list[AccountOut]:
    owned_patient(session, therapist, patient_id)
    accounts = session.scalars(
        select(LinkedAccount).where(LinkedAccount.patient_id == patient_id)
        .order_by(LinkedAccount.provider)
    )  # fmt: skip
    return [
        AccountOut(
            provider=a.provider,
            status=a.status,
            synced_through=a.synced_through,
            last_success_at=a.last_success_at,
            consecutive_failures=a.consecutive_failures,
            last_error_kind=a.last_error_kind,
        )
        for a in accounts
    ]


def _alert_out(alert: Alert, zone: str | None) -> AlertOut:
    record = alert_record(alert, local_today(utcnow(), zone))
    return AlertOut(**{k: record[k] for k in AlertOut.model_fields})


@router.get("/alerts", summary="The caller's patients' alerts for therapists")
def list_alerts(
    session: SessionDep,
    therapist: ApiTherapist,
    patient: Annotated[str | None, Query(max_length=64)] = None,
    status: Literal["open", "acknowledged", "closed", "withdrawn"] | None = None,
) -> list[AlertOut]:
    query = (
        select(Alert, Patient.timezone)
        .join(Patient, Patient.id == Alert.patient_id)
        .where(Patient.therapist_id == therapist.id, Alert.audience == THERAPIST)
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(500)
    )
    if patient is not None:
        owned_patient(session, therapist, patient)
        query = query.where(Alert.patient_id == patient)
    if status is not None:
        query = query.where(Alert.status == status)
    return [_alert_out(a, zone) for a, zone in session.execute(query)]


@router.post("/alerts/{alert_id}/acknowledge", summary="Mark an open alert as seen")
def acknowledge_alert(alert_id: int, session: SessionDep, therapist: ApiTherapist) -> AlertOut:
    alert = acknowledge(session, therapist, alert_id)
    session.commit()
    zone = owned_patient(session, therapist, alert.patient_id).timezone
    return _alert_out(owned_alert(session, therapist, alert_id), zone)


@router.post("/patients/{patient_id}/pain-reports", status_code=201, summary="Add a pain report")
def add_pain_report(
    patient_id: str, body: PainIn, session: SessionDep, therapist: ApiTherapist
) -> PainOut:
    owned_patient(session, therapist, patient_id)
    report = add_pain(session, patient_id, body.score, body.note, body.at)
    session.commit()
    return PainOut(id=report.id, patient=patient_id, score=report.score, note=report.note,
                   reported_at=report.reported_at)  # fmt: skip
