"""The weekly report's figures for one therapist's caseload, from the rules' own
day table and plan (``rules.evaluate.assess``), so the report and the alerts never
disagree about a day.

A week is an ISO week (Monday to Sunday) in each patient's local calendar.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import patient_zone
from core.errors import NotFound
from ingest.models import LinkedAccount, LinkStatus, PainReport, Patient, Therapist
from ingest.programme_models import Alert
from reports.weeks import week_label
from reports.words import alert_words
from rules.evaluate import assess

# A US remote-monitoring period (CPT 99454) needs data on 16 of 30 days.
RPM_DAYS_NEEDED = 16
RPM_WINDOW_DAYS = 30


@dataclass(frozen=True)
class Day:
    date: date
    status: str  # valid, low_wear, missing, provisional, not_monitored
    steps: int | None  # None: no data at all (drawn apart from a day of 0 steps)
    target_steps: int | None
    walking_minutes: int
    longest_walk: int
    walk_done: bool
    source: str


@dataclass(frozen=True)
class AlertLine:
    id: int
    rule: str
    severity: str
    title: str
    text: str
    status: str
    new_this_week: bool


@dataclass
class PatientWeek:
    id: str
    name: str
    timezone: str
    days: list[Day]
    phase: str
    level: int | None
    walks_planned: int
    minutes_per_walk: int
    walks_done: int
    walking_minutes: int
    next_walks: int
    next_minutes: int
    valid_days: int
    low_wear_days: int
    missing_days: int
    unsettled_days: int
    days_with_data_30: int
    # Monitored the whole 30-day window (else the 16-day count cannot be judged yet).
    monitored_30: bool
    last_data_day: date | None
    links: list[str]
    link_problem: bool
    pain: list[tuple[date, int, str]]
    alerts: list[AlertLine]
    retracted: list[AlertLine]
    reasons: list[str] = field(default_factory=list)
    need: int = 0

    @property
    def planned_minutes(self) -> int:
        return self.walks_planned * self.minutes_per_walk

    @property
    def rpm_ok(self) -> bool:
        return self.days_with_data_30 >= RPM_DAYS_NEEDED or not self.monitored_30


@dataclass
class WeeklyReport:
    therapist_id: str
    therapist_name: str
    week: str
    start: date
    end: date
    generated_at: datetime
    patients: list[PatientWeek]

    @property
    def needing_attention(self) -> list[PatientWeek]:
        return [p for p in self.patients if p.reasons]

    @property
    def completeness(self) -> float:
        """Share of the caseload's settled days this week with valid wear."""
        judged = sum(p.valid_days + p.low_wear_days + p.missing_days for p in self.patients)
        return sum(p.valid_days for p in self.patients) / judged if judged else 0.0

    @property
    def below_rpm(self) -> int:
        return sum(not p.rpm_ok for p in self.patients)


def build_weekly(
    session: Session,
    therapist_id: str,
    monday: date,
    now: datetime,
    retracted_ids: frozenset[int] = frozenset(),
    patient_id: str | None = None,
) -> WeeklyReport:
    """The report for ISO week starting ``monday`` as of ``now``; ``retracted_ids`` are
    alerts already sent that no longer hold (the digest says so); ``patient_id``
    limits it to one patient (their weekly summary)."""
    therapist = session.get(Therapist, therapist_id)
    if therapist is None:
        raise NotFound(f"no therapist {therapist_id!r} (see 'stridewise therapist list')")
    sunday = monday + timedelta(days=6)
    patients = list(
        session.scalars(
            select(Patient)
            .where(Patient.therapist_id == therapist_id)
            .where(Patient.id == patient_id if patient_id else True)
            .order_by(Patient.id)
        )
    )
    # Judge the week as of the Monday after it (or now, for the running week).
    over = now.astimezone(UTC).date() > sunday + timedelta(days=1)
    result = assess(
        session, patients, now, sunday + timedelta(days=1) if over else None, cached=True
    )
    weeks = [
        _patient_week(session, p, result.days, result.plan, monday, now, retracted_ids)
        for p in patients
    ]
    weeks.sort(key=lambda p: (-p.need, p.name))
    label = week_label(monday)
    return WeeklyReport(therapist.id, therapist.name, label, monday, sunday, now, weeks)


def _patient_week(session, patient, days, plan, monday, now, retracted_ids) -> PatientWeek:
    sunday = monday + timedelta(days=6)
    mine = days[days["patient_id"] == patient.id] if not days.empty else days
    own_plan = plan[plan["patient_id"] == patient.id] if not plan.empty else plan
    by_date = {row.local_date.date(): row for row in mine.itertuples()} if len(mine) else {}
    minutes_of_week = (
        dict(zip(own_plan["week"], own_plan["minutes_planned"], strict=True))
        if len(own_plan)
        else {}
    )
    week_days = []
    for offset in range(7):
        day = monday + timedelta(days=offset)
        week_days.append(_day(by_date.get(day), day, minutes_of_week))
    in_force = _plan_in_force(own_plan, [by_date.get(d.date) for d in week_days])
    latest = own_plan.iloc[-1] if len(own_plan) else None
    window_start = sunday - timedelta(days=RPM_WINDOW_DAYS - 1)
    in_window = [row for d, row in by_date.items() if window_start <= d <= sunday]
    with_data = sum(1 for row in in_window if row.steps > 0)
    # Freshness is about now, not the report's week.
    data_days = [d for d, row in by_date.items() if row.steps > 0]
    links, problem = _links(session, patient.id)
    zone = patient_zone(patient.timezone)
    week = PatientWeek(
        id=patient.id,
        name=patient.name,
        timezone=patient.timezone or "UTC",
        days=week_days,
        phase=str(in_force["phase"]) if in_force is not None else "baseline",
        level=int(in_force["level"]) if in_force is not None else None,
        walks_planned=int(in_force["walks_planned"]) if in_force is not None else 0,
        minutes_per_walk=int(in_force["minutes_planned"]) if in_force is not None else 0,
        walks_done=sum(d.walk_done for d in week_days),
        walking_minutes=sum(d.walking_minutes for d in week_days),
        next_walks=int(latest["walks_planned"]) if latest is not None else 0,
        next_minutes=int(latest["minutes_planned"]) if latest is not None else 0,
        valid_days=sum(d.status == "valid" for d in week_days),
        low_wear_days=sum(d.status == "low_wear" for d in week_days),
        missing_days=sum(d.status == "missing" for d in week_days),
        unsettled_days=sum(d.status == "provisional" for d in week_days),
        days_with_data_30=with_data,
        monitored_30=len(in_window) == RPM_WINDOW_DAYS,
        last_data_day=max(data_days, default=None),
        links=links,
        link_problem=problem,
        pain=_pain(session, patient.id, zone, monday, sunday),
        alerts=[],
        retracted=[],
    )
    week.alerts, week.retracted = _alerts(session, patient.id, zone, monday, now, retracted_ids)
    week.reasons, week.need = _needs(week)
    return week


def _day(row, day: date, minutes_of_week: dict) -> Day:
    if row is None:  # not monitored yet (before the first data or link), or after today
        return Day(day, "not_monitored", None, None, 0, 0, False, "")
    status = str(row.status)
    has_data = row.steps > 0 or status != "missing"
    target = row.planned_steps if pd.notna(row.planned_steps) else None
    planned = minutes_of_week.get(row.week)
    return Day(
        date=day,
        status=status,
        steps=int(row.steps) if has_data else None,
        target_steps=int(target) if target else None,
        walking_minutes=int(row.walking_minutes),
        longest_walk=int(row.longest_bout),
        walk_done=bool(row.has_intraday and planned and row.longest_bout >= planned),
        source=str(row.source),
    )


def _plan_in_force(plan: pd.DataFrame, rows: list) -> pd.Series | None:
    """The programme week covering most of this ISO week's days (programme weeks
    start the day after the baseline, not on Mondays)."""
    weeks = Counter(int(r.week) for r in rows if r is not None and r.week >= 0)
    if not weeks or plan.empty:
        return None
    top = max(weeks.items(), key=lambda item: (item[1], item[0]))[0]
    match = plan[plan["week"] == top]
    return match.iloc[0] if len(match) else None


def _links(session: Session, patient_id: str) -> tuple[list[str], bool]:
    accounts = session.scalars(select(LinkedAccount).where(LinkedAccount.patient_id == patient_id))
    lines, problem = [], False
    for a in accounts:
        state = {"active": "linked", "needs_relink": "needs relinking", "paused": "paused"}.get(
            a.status, a.status
        )
        synced = a.last_success_at.strftime("%d %b %H:%M UTC") if a.last_success_at else "never"
        lines.append(f"{a.provider}: {state}, last sync {synced}")
        problem |= a.status != LinkStatus.ACTIVE.value
    return lines, problem


def _pain(session, patient_id, zone, monday, sunday) -> list[tuple[date, int, str]]:
    rows = session.scalars(
        select(PainReport)
        .where(PainReport.patient_id == patient_id)
        .order_by(PainReport.reported_at)
    )
    out = []
    for r in rows:
        local = r.reported_at.astimezone(zone).date()
        if monday <= local <= sunday:
            out.append((local, r.score, r.note or ""))
    return out


def _alerts(session, patient_id, zone, monday, now, retracted_ids):
    alerts = session.scalars(
        select(Alert)
        .where(Alert.patient_id == patient_id, Alert.audience == "therapist")
        .order_by(Alert.created_at, Alert.id)
    )
    open_lines, retracted = [], []
    for a in alerts:
        words = alert_words(a, now.astimezone(zone).date())
        created = a.created_at.astimezone(zone).date()
        line = AlertLine(
            a.id, a.rule, a.severity, words.subject, words.text, a.status, created >= monday
        )
        if a.status in ("open", "acknowledged"):
            open_lines.append(line)
        elif a.id in retracted_ids:
            retracted.append(line)
    return open_lines, retracted


def _needs(p: PatientWeek) -> tuple[list[str], int]:
    """Why this patient needs a look, most pressing first, and a score to sort by."""
    reasons, score = [], 0
    urgent = [a for a in p.alerts if a.severity == "urgent"]
    for a in urgent:
        reasons.append(a.title)
        score += 100
    if p.link_problem:
        reasons.append("wearable needs relinking")
        score += 50
    if p.walks_planned and p.walks_done < p.walks_planned and p.unsettled_days < 7:
        reasons.append(f"{p.walks_done} of {p.walks_planned} planned walks")
        score += 10 * (p.walks_planned - p.walks_done)
    if p.missing_days >= 3:
        reasons.append(f"{p.missing_days} days without data")
        score += 5 * p.missing_days
    if not p.rpm_ok:
        reasons.append(f"data on {p.days_with_data_30} of the last 30 days")
        score += 5
    others = [a for a in p.alerts if a.severity != "urgent"]
    for a in others:
        if a.title not in reasons:
            reasons.append(a.title)
        score += 3
    return reasons, score
