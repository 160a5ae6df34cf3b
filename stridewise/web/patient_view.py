"""Everything the therapist's patient page shows, computed in one rules run for the
patient (which also refreshes their caseload summary)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import local_today
from ingest.access_models import AlertSnooze
from ingest.models import LinkedAccount, PainReport, Patient
from ingest.programme_models import Alert, ExemptDay
from rules.enrolment import programme_start
from rules.evaluate import assess
from rules.messages import THERAPIST, render
from rules.programme import week_summary
from stridewise.web.summaries import day_status, exempt_dates, store_summaries
from stridewise.web.svg import Day

CHART_DAYS = 56


@dataclass
class PatientView:
    patient: Patient
    today: date
    start: date | None
    weeks: list[dict]
    steps_days: list[Day]
    minutes_days: list[Day]
    alerts: list[dict]
    pain: list[PainReport]
    exempt: list[ExemptDay]
    accounts: list[LinkedAccount]
    figures: dict

    @property
    def current_week(self) -> dict | None:
        return self.weeks[-1] if self.weeks else None


def _int(value) -> int | None:
    return None if value is None or pd.isna(value) else int(value)


def _chart(days: pd.DataFrame, plan: pd.DataFrame, today: date, exempt: set[date]):
    by_date = {pd.Timestamp(r.local_date).date(): r for r in days.itertuples(index=False)}
    minutes_by_week = {int(r.week): int(r.minutes_planned) for r in plan.itertuples(index=False)}
    walks_by_week = {int(r.week): int(r.walks_planned) for r in plan.itertuples(index=False)}
    steps, minutes = [], []
    for offset in range(CHART_DAYS - 1, -1, -1):
        day = today - timedelta(days=offset)
        row = by_date.get(day)
        if row is None:
            steps.append(Day(day.isoformat(), None, "none"))
            minutes.append(Day(day.isoformat(), None, "none", unit="walking minutes"))
            continue
        kind = day_status(row, exempt)
        target = None if pd.isna(row.planned_steps) else float(row.planned_steps)
        steps.append(Day(day.isoformat(), _int(row.steps), kind, target))
        week = _int(row.week)
        planned = minutes_by_week.get(week) if week is not None else None
        # The daily share of the week's planned walking minutes.
        daily = planned * walks_by_week[week] / 7 if planned else None
        minutes.append(Day(day.isoformat(), _int(row.walking_minutes), kind, daily,
                           unit="walking minutes"))  # fmt: skip
    return steps, minutes


def patient_view(session: Session, patient: Patient, now: datetime) -> PatientView:
    result = assess(session, [patient], now, cached=True)
    figures = store_summaries(session, [patient], result, now)[patient.id]
    today = result.today.get(patient.id) or local_today(now, patient.timezone)
    exempt = exempt_dates(session, [patient.id])[patient.id]
    weeks: list[dict] = []
    steps_days: list[Day] = []
    minutes_days: list[Day] = []
    if not result.days.empty:
        days = result.days[result.days["patient_id"] == patient.id]
        plan = result.plan[result.plan["patient_id"] == patient.id]
        steps_days, minutes_days = _chart(days, plan, today, exempt)
        if not plan.empty:
            weeks = week_summary(days, plan).to_dict("records")
    rows = session.execute(
        select(Alert, AlertSnooze.until)
        .outerjoin(AlertSnooze, AlertSnooze.alert_id == Alert.id)
        .where(Alert.patient_id == patient.id, Alert.audience == THERAPIST)
        .order_by(Alert.created_at.desc(), Alert.id.desc())
        .limit(50)
    ).all()
    alerts = [
        {"alert": a, "words": render(a, today), "snoozed_until": u if u and u > now else None}
        for a, u in rows
    ]
    pain = list(session.scalars(
        select(PainReport).where(PainReport.patient_id == patient.id)
        .order_by(PainReport.reported_at.desc()).limit(10)
    ))  # fmt: skip
    exempt_rows = list(session.scalars(
        select(ExemptDay).where(ExemptDay.patient_id == patient.id)
        .order_by(ExemptDay.local_date.desc()).limit(20)
    ))  # fmt: skip
    accounts = list(session.scalars(
        select(LinkedAccount).where(LinkedAccount.patient_id == patient.id)
        .order_by(LinkedAccount.provider)
    ))  # fmt: skip
    return PatientView(patient, today, programme_start(session, patient.id), weeks, steps_days,
                       minutes_days, alerts, pain, exempt_rows, accounts, figures)  # fmt: skip
