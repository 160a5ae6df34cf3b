"""The caseload read model: one row per patient of a therapist, sorted by need.

Need, most first: open urgent alerts, then a link that needs the patient, then
this week's adherence (walks done / planned), then data freshness. One query per
table (patients with their summaries, accounts, alerts), whatever the caseload."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.clock import local_today
from ingest.access_models import AlertSnooze, CaseloadSummary
from ingest.models import LinkedAccount, LinkStatus, Patient
from ingest.programme_models import Alert
from rules.messages import THERAPIST, URGENT, render

ACTIVE = ("open", "acknowledged")
STALE_DAYS = 3
FILTERS = {"attention": "Needs attention", "all": "All patients", "disconnected": "Disconnected"}


@dataclass
class AlertLine:
    id: int
    rule: str
    severity: str
    status: str
    subject: str
    text: str
    snoozed_until: datetime | None


@dataclass
class CaseloadRow:
    id: str
    name: str
    link: str  # active / needs_relink / paused / none
    last_sync: datetime | None
    figures: dict
    computed_at: datetime | None
    today: date
    alerts: list[AlertLine] = field(default_factory=list)

    @property
    def urgent(self) -> int:
        return sum(a.severity == URGENT and a.status == "open" for a in self.alerts)

    @property
    def open_alerts(self) -> list[AlertLine]:
        return [a for a in self.alerts if a.status == "open"]

    def reasons(self) -> list[tuple[str, str, int]]:
        """(severity, subject, how many) of the open alerts, most severe first."""
        counts: dict[tuple[str, str], int] = {}
        for a in self.open_alerts:
            counts[(a.severity, a.subject)] = counts.get((a.severity, a.subject), 0) + 1
        order = {URGENT: 0, "warning": 1}
        return sorted(((s, t, n) for (s, t), n in counts.items()), key=lambda r: order.get(r[0], 2))

    @property
    def days_since_data(self) -> int | None:
        last = self.figures.get("last_data")
        return (self.today - date.fromisoformat(last)).days if last else None

    @property
    def adherence(self) -> float | None:
        planned, done = self.figures.get("walks_planned"), self.figures.get("walks_done")
        return done / planned if planned else None

    @property
    def disconnected(self) -> bool:
        return self.link != LinkStatus.ACTIVE.value

    @property
    def needs_attention(self) -> bool:
        stale = self.days_since_data is None or self.days_since_data >= STALE_DAYS
        return bool(self.open_alerts) or self.disconnected or stale

    def need_key(self) -> tuple:
        stale = self.days_since_data if self.days_since_data is not None else 10_000
        adherence = self.adherence if self.adherence is not None else 2.0
        return (-self.urgent, not self.disconnected, -len(self.open_alerts), adherence,
                -stale, self.name.lower())  # fmt: skip


def _link_state(statuses: list[str]) -> str:
    for state in (LinkStatus.ACTIVE.value, LinkStatus.NEEDS_RELINK.value, LinkStatus.PAUSED.value):
        if state in statuses:
            return state
    return "none"


def alert_lines(session: Session, ids: list[str], now: datetime, zones: dict[str, str | None]):
    """Active therapist alerts of these patients, worded as of each patient's today,
    snoozed ones marked; by patient."""
    rows = session.execute(
        select(Alert, AlertSnooze.until)
        .outerjoin(AlertSnooze, AlertSnooze.alert_id == Alert.id)
        .where(Alert.patient_id.in_(ids), Alert.audience == THERAPIST, Alert.status.in_(ACTIVE))
        .order_by(Alert.created_at.desc(), Alert.id.desc())
    ).all()
    out: dict[str, list[AlertLine]] = {pid: [] for pid in ids}
    for alert, until in rows:
        words = render(alert, local_today(now, zones.get(alert.patient_id)))
        snoozed = until if until and until > now else None
        status = "snoozed" if snoozed and alert.status == "open" else alert.status
        out[alert.patient_id].append(
            AlertLine(
                alert.id, alert.rule, alert.severity, status, words.subject, words.text, snoozed
            )
        )
    return out


def caseload(session: Session, therapist_id: str, now: datetime) -> list[CaseloadRow]:
    patients = session.execute(
        select(Patient.id, Patient.name, Patient.timezone, CaseloadSummary)
        .outerjoin(CaseloadSummary, CaseloadSummary.patient_id == Patient.id)
        .where(Patient.therapist_id == therapist_id)
    ).all()
    ids = [p.id for p in patients]
    accounts: dict[str, list] = {pid: [] for pid in ids}
    for pid, status, synced in session.execute(
        select(LinkedAccount.patient_id, LinkedAccount.status, LinkedAccount.last_success_at).where(
            LinkedAccount.patient_id.in_(ids)
        )
    ):
        accounts[pid].append((status, synced))
    zones = {p.id: p.timezone for p in patients}
    alerts = alert_lines(session, ids, now, zones)
    rows = [
        CaseloadRow(
            id=p.id, name=p.name, link=_link_state([s for s, _ in accounts[p.id]]),
            last_sync=max((t for _, t in accounts[p.id] if t), default=None),
            figures=p.CaseloadSummary.figures if p.CaseloadSummary else {},
            computed_at=p.CaseloadSummary.computed_at if p.CaseloadSummary else None,
            today=local_today(now, p.timezone), alerts=alerts[p.id],
        )
        for p in patients
    ]  # fmt: skip
    return sorted(rows, key=CaseloadRow.need_key)


def filtered(rows: list[CaseloadRow], show: str, query: str) -> list[CaseloadRow]:
    if show == "attention":
        rows = [r for r in rows if r.needs_attention]
    elif show == "disconnected":
        rows = [r for r in rows if r.disconnected]
    words = query.strip().lower()
    if words:
        rows = [r for r in rows if words in r.name.lower() or words in r.id.lower()]
    return rows
