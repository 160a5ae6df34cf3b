"""The rules service: load what the rules need, run them, keep the alert records.

``evaluate`` is the one entry point the daily scheduled job (and the CLI) calls.
Every patient is evaluated on their own calendar: "today" is their local date,
and a day is judged only once it has settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import patient_zone, utcnow
from core.errors import StridewiseError
from ingest import dayview
from ingest.db import transaction
from ingest.models import LinkedAccount, LinkStatus, PainReport, Patient
from ingest.patients import get_patient
from ingest.programme_models import ExemptDay, LevelOverride, ProgrammeStart
from rules import findings as rules
from rules import summaries
from rules.alerts import AlertChanges, apply_findings
from rules.calibration import calibrated_cadence
from rules.metrics import calendar_frame, day_metrics
from rules.pain import flare_days
from rules.programme import run_programme
from rules.programme_config import params_frame, patient_config


@dataclass
class Assessment:
    """Everything the rules computed for a set of patients, as frames."""

    days: pd.DataFrame
    plan: pd.DataFrame
    baseline: pd.DataFrame
    findings: pd.DataFrame
    today: dict[str, date]
    # Last local date up to which every day has settled: alerts about later days
    # may still change and are never withdrawn.
    settled_through: dict[str, date]
    # The settings used, per patient (with the calibrated ``cadence_threshold``).
    params: pd.DataFrame = field(default_factory=pd.DataFrame)
    # Day summaries computed in this run (``rules.summaries``).
    recomputed: pd.DataFrame = field(default_factory=pd.DataFrame)
    # With stored summaries: what was read (``rules.summaries.Plan``).
    reads: summaries.Plan | None = None


@dataclass
class EvaluationResult:
    patients: int
    changes: AlertChanges
    # Patients whose evaluation failed, with the one-line reason; the others were evaluated.
    failures: dict[str, str] = field(default_factory=dict)


def _zone(patient: Patient) -> ZoneInfo:
    return patient_zone(patient.timezone)


def _local_date(instant: datetime | None, zone: ZoneInfo) -> date | None:
    return instant.astimezone(zone).date() if instant else None


def _clock(patient: Patient, now: datetime, today: date | None) -> tuple[datetime, date]:
    """The patient's evaluation instant and local today; a past ``today`` means its end."""
    zone = _zone(patient)
    if today is None:
        return now, now.astimezone(zone).date()
    end = datetime.combine(today + timedelta(days=1), time.min, zone).astimezone(UTC)
    return min(now, end - timedelta(microseconds=1)), today


def findings_for(
    days: pd.DataFrame,
    plan: pd.DataFrame,
    params: pd.DataFrame,
    flares: pd.DataFrame,
    exempt: pd.DataFrame,
    sync: pd.DataFrame,
    today: pd.Series,
    start: pd.Series,
) -> pd.DataFrame:
    """Every rule of the spec's alert table over the whole history. Programme rules
    judge only days from each patient's ``start`` (NaT: not enrolled, none); the
    data-quality ones (sync, implausible data, completeness) and flares judge all."""
    parts = [rules.flare(flares, params, today), rules.sync_findings(sync, params, today)]
    if not days.empty:
        parts += day_findings(days, plan, params, exempt, today, start)
    parts = [p for p in parts if not p.empty]
    if not parts:
        return pd.DataFrame(columns=rules.FINDING_COLUMNS)
    return pd.concat(parts, ignore_index=True)


def day_findings(days, plan, params, exempt, today, start) -> list[pd.DataFrame]:
    since = start.reindex(days["patient_id"]).to_numpy("datetime64[ns]")
    enrolled = days["local_date"].to_numpy("datetime64[ns]") >= since
    judged = days if enrolled.all() else days[enrolled]  # no copy of a large table
    quality = [
        rules.low_completeness(days, params, today),
        rules.implausible_data(days, params, today),
    ]
    if judged.empty:
        return quality
    weekly = rules.weekly(judged, plan, params, exempt)
    return [
        *quality,
        rules.overdoing(judged, params, today),
        rules.boom_bust(judged, params, today),
        rules.under_target(weekly, params, today),
        rules.inactive_streak(judged, params, exempt, today),
        rules.maintenance(weekly, params, today),
    ]


def assess(
    session: Session,
    patients: list[Patient],
    now: datetime,
    today: date | None = None,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
    cached: bool = False,
    save: bool = False,
) -> Assessment:
    """Load and run the rules for ``patients``; ``cached``: read only the intervals of
    changed days and reuse the stored day summaries; ``save``: and store what was
    recomputed (the caller commits)."""
    ids = [p.id for p in patients]
    by_id = {p.id: p for p in patients}
    clocks = {p.id: _clock(p, now, today) for p in patients}
    params = params_frame(
        {p.id: patient_config(p.programme, p.overrides) for p in patients},
        {p.id: "cadence_threshold" in (p.overrides or {}) for p in patients},
    )
    if not patients:
        return _nothing(params)
    starts = dict(
        session.execute(
            select(ProgrammeStart.patient_id, ProgrammeStart.start_date).where(
                ProgrammeStart.patient_id.in_(ids)
            )
        ).all()
    )
    accounts = list(session.scalars(select(LinkedAccount).where(LinkedAccount.patient_id.in_(ids))))

    last = max(t for _, t in clocks.values())
    priorities = dayview.patient_priorities(session, ids)
    totals = dayview.read_daily_totals(session, ids, None, last)
    stored = plan = None
    if cached:
        stored = summaries.load(session, ids, last)
        data_days = stored.data_days()
    else:
        raw = _read_all(session, ids, last)
        merged = dayview.merge_sources(raw, priorities, source_priority)
        data_days = merged[["patient_id", "local_date"]]
    known = pd.concat([data_days, totals[["patient_id", "local_date"]]], ignore_index=True)
    first_data = known.groupby("patient_id")["local_date"].min()

    calendar_rows = []
    for pid in ids:
        zone = _zone(by_id[pid])
        own = [a for a in accounts if a.patient_id == pid]
        linked = min((a.created_at for a in own), default=None)
        first = _local_date(linked, zone) or (
            first_data[pid].date() if pid in first_data.index else None
        )
        start = starts.get(pid)
        if start is not None:
            # History before the start is the baseline when it covers the whole week.
            before = start - timedelta(days=int(params.at[pid, "baseline_days"]))
            data_from = first_data[pid].date() if pid in first_data.index else start
            first = before if data_from <= before else start
        if first is None:
            continue
        synced = max((a.last_success_at for a in own if a.last_success_at), default=None)
        calendar_rows.append(
            (pid, first, clocks[pid][1], _local_date(synced, zone) if own else None, start)
        )
    if not calendar_rows:
        return _nothing(params)
    calendar = calendar_frame(*map(list, zip(*calendar_rows, strict=True)))
    params = params.loc[calendar.index]
    if stored is not None:
        zones = {p.id: p.timezone for p in patients}
        digest = summaries.digests(params, priorities, source_priority, zones)
        plan = summaries.plan(stored, digest, calendar["first_date"], params, last)
        raw = pd.concat(
            [_read_all(session, plan.full, last), dayview.read_intervals_on(session, plan.reread)],
            ignore_index=True,
        )
        merged = dayview.merge_sources(raw, priorities, source_priority)
    day_table = dayview.combine_day_figures(
        summaries.figures(plan, merged), totals, priorities, source_priority
    )

    newest = _newest_interval_ends(raw, plan, clocks)
    sync_rows = []
    for pid in calendar.index:
        own = [a for a in accounts if a.patient_id == pid]
        if own:
            sync_rows.append(
                _sync_state(pid, own, newest.get(pid), totals, _zone(by_id[pid]), clocks[pid][0])
            )
    overrides = pd.DataFrame(
        session.execute(
            select(LevelOverride.patient_id, LevelOverride.week_start, LevelOverride.level).where(
                LevelOverride.patient_id.in_(ids)
            )
        ).all(),
        columns=["patient_id", "week_start", "level"],
    )
    exempt = pd.DataFrame(
        session.execute(
            select(ExemptDay.patient_id, ExemptDay.local_date).where(ExemptDay.patient_id.in_(ids))
        ).all(),
        columns=["patient_id", "local_date"],
    )
    sync = pd.DataFrame(sync_rows, columns=SYNC_COLUMNS)
    result = run_rules(
        merged,
        day_table,
        params,
        calendar,
        _pain(session, by_id, clocks),
        exempt,
        overrides,
        sync,
        plan,
    )
    if stored is not None and save:
        plan.bases = pd.DataFrame(
            {
                "digest": digest.reindex(plan.full),
                "baseline_from": calendar["first_date"].reindex(plan.full),
                "calibrated_through": summaries.calibrated_through(
                    calendar["first_date"], params, last
                ).reindex(plan.full),
                "threshold": result.params["cadence_threshold"].reindex(plan.full),
            }
        )
        summaries.save(session, plan, stored, result.recomputed, merged, raw)
    result.reads = plan
    return result


def _nothing(params: pd.DataFrame) -> Assessment:
    empty = pd.DataFrame(columns=rules.FINDING_COLUMNS)
    return Assessment(pd.DataFrame(), pd.DataFrame(), pd.DataFrame(), empty, {}, {}, params)


def _read_all(session: Session, ids: Sequence[str], last: date) -> pd.DataFrame:
    """Every interval of ``ids`` up to ``last``, a thousand patients per query."""
    parts = [
        dayview.read_intervals(session, ids[lo : lo + 1000], None, last)
        for lo in range(0, len(ids), 1000)
    ]
    return pd.concat(parts, ignore_index=True) if parts else dayview.read_intervals(session, [])


def _newest_interval_ends(raw: pd.DataFrame, plan, clocks) -> dict[str, pd.Timestamp]:
    """Per patient: the end of their newest interval (any source) not after their
    evaluation instant, from the intervals read and the stored summaries' days."""
    ends = [raw[["patient_id", "end_utc"]]]
    if plan is not None and not plan.kept.empty:
        ends.append(plan.kept[["patient_id", "last_end_utc"]].set_axis(ends[0].columns, axis=1))
    frame = pd.concat(ends, ignore_index=True)
    if frame.empty:
        return {}
    limit = pd.Series({pid: pd.Timestamp(c[0]) for pid, c in clocks.items()})
    at = pd.DatetimeIndex(limit.reindex(frame["patient_id"]).to_numpy()).tz_convert(UTC)
    frame = frame[frame["end_utc"].to_numpy() <= at.to_numpy()]
    return frame.groupby("patient_id")["end_utc"].max().to_dict()


log = structlog.get_logger("stridewise.rules")

SYNC_COLUMNS = [
    "patient_id",
    "now",
    "active_link",
    "last_data_at",
    "last_data_date",
    "revoked",
    "revoked_date",
]


def run_rules(
    merged: pd.DataFrame,
    day_table: pd.DataFrame,
    params: pd.DataFrame,
    calendar: pd.DataFrame,
    pain: pd.DataFrame,
    exempt: pd.DataFrame,
    overrides: pd.DataFrame,
    sync: pd.DataFrame,
    plan: summaries.Plan | None = None,
) -> Assessment:
    """The whole rules pipeline on frames, no database: metrics, programme, findings.
    ``plan`` (``rules.summaries``): ``merged`` holds only the days read; the others'
    metrics and the thresholds of patients not read in full come from storage.

    ``merged``/``day_table``: the day view's merged intervals and days;
    ``calendar``: ``rules.metrics.calendar_frame``; ``pain``: (patient_id,
    local_time, score); ``exempt``: (patient_id, local_date); ``overrides``:
    (patient_id, week_start, level); ``sync``: ``SYNC_COLUMNS`` rows.
    """
    threshold = calibrated_cadence(merged, params, calendar["first_date"])
    if plan is not None:
        threshold = plan.thresholds.reindex(threshold.index).fillna(threshold).astype("int64")
    params = params.assign(cadence_threshold=threshold)
    metrics, recomputed = summaries.day_metrics_with(plan, merged, params)
    table = day_metrics(day_table, metrics, params, calendar)
    # Pain from patients with no programme days (no data, no link) has nothing to hold.
    flares = flare_days(pain[pain["patient_id"].isin(calendar.index)], params)
    if not flares.empty:
        until = calendar["today"].reindex(flares["patient_id"]).to_numpy()
        flares = flares[flares["local_date"].to_numpy() <= until]
    days, plan, base = run_programme(table, params, calendar["first_date"], flares, overrides)
    del table  # ``days`` extends it; two copies of a large day table would double the peak
    exempt = exempt.assign(local_date=pd.to_datetime(exempt["local_date"]).astype("datetime64[ns]"))
    sync = sync.set_index("patient_id")
    sync["last_data_at"] = pd.to_datetime(sync["last_data_at"], utc=True)
    sync["now"] = pd.to_datetime(sync["now"], utc=True)
    found = findings_for(
        days, plan, params, flares, exempt, sync, calendar["today"], calendar["start"]
    )
    today = {pid: t.date() for pid, t in calendar["today"].items()}
    unsettled = days.loc[~days["settled"]].groupby("patient_id")["local_date"].min()
    settled_through = {
        pid: (unsettled[pid] - pd.Timedelta(days=1)).date() if pid in unsettled.index else day
        for pid, day in today.items()
    }
    return Assessment(days, plan, base, found, today, settled_through, params, recomputed)


def _sync_state(pid, own, newest, totals, zone, now) -> tuple:
    linked = min(a.created_at for a in own)
    kept = totals[(totals["patient_id"] == pid) & (totals["steps"] > 0)]
    if not kept.empty:
        latest = kept["local_date"].max().date()
        day_end = datetime.combine(latest + timedelta(days=1), time.min, zone).astimezone(UTC)
        covered = min(day_end, kept["fetched_at"].max().to_pydatetime(), now)
        newest = covered if newest is None or pd.isna(newest) else max(newest, covered)
    if newest is None or pd.isna(newest):
        newest = linked
    newest = pd.Timestamp(newest).to_pydatetime()
    revoked = [
        a
        for a in own
        if a.status == LinkStatus.NEEDS_RELINK.value and a.last_error_kind == "auth_revoked"
    ]
    revoked_at = max((a.updated_at for a in revoked), default=None)
    return (
        pid,
        now,
        any(a.status == LinkStatus.ACTIVE.value for a in own),
        newest,
        newest.astimezone(zone).date().isoformat(),
        revoked_at is not None,
        _local_date(revoked_at, zone).isoformat() if revoked_at else "",
    )


def _pain(session: Session, by_id: dict[str, Patient], clocks) -> pd.DataFrame:
    rows = session.execute(
        select(PainReport.patient_id, PainReport.reported_at, PainReport.score).where(
            PainReport.patient_id.in_(list(by_id))
        )
    ).all()
    kept = [
        (pid, at.astimezone(_zone(by_id[pid])).replace(tzinfo=None), score)
        for pid, at, score in rows
        if at <= clocks[pid][0]
    ]
    frame = pd.DataFrame(kept, columns=["patient_id", "local_time", "score"])
    frame["local_time"] = pd.to_datetime(frame["local_time"])
    return frame


def evaluate(
    factory: sessionmaker[Session],
    today: date | None = None,
    patient_id: str | None = None,
    now: datetime | None = None,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
    patient_ids: Sequence[str] | None = None,
) -> EvaluationResult:
    """Run every rule for one patient, the ``patient_ids`` or all, and update the alert
    records (idempotent).

    ``today`` evaluates as of the end of that local date; ``now`` is the clock
    (injected by tests; the real time by default). All patients are evaluated
    together (vectorised); if that fails, each is evaluated on their own so one
    patient's bad data never stops the others: failures are logged and returned.
    """
    now = now or utcnow()
    with factory() as session:
        if patient_id is not None:
            ids = [get_patient(session, patient_id).id]
        elif patient_ids is not None:
            ids = sorted(patient_ids)
        else:
            ids = list(session.scalars(select(Patient.id).order_by(Patient.id)))
    try:
        changes = _evaluate_batch(factory, ids, now, today, source_priority)
        return EvaluationResult(patients=len(ids), changes=changes)
    except Exception as err:
        if len(ids) <= 1:
            log.exception("rules.failed", patient_id=ids[0] if ids else None)
            return EvaluationResult(len(ids), AlertChanges(), {pid: _reason(err) for pid in ids})
    result = EvaluationResult(patients=len(ids), changes=AlertChanges())
    for pid in ids:
        try:
            one = _evaluate_batch(factory, [pid], now, today, source_priority)
        except Exception as err:  # one patient's failure must not stop the others
            log.exception("rules.failed", patient_id=pid, error_type=type(err).__name__)
            result.failures[pid] = _reason(err)
            continue
        for name in ("new", "still_open", "withdrawn", "reopened", "closed"):
            getattr(result.changes, name).extend(getattr(one, name))
    return result


def _evaluate_batch(factory, ids, now, today, source_priority) -> AlertChanges:
    with transaction(factory) as session:
        patients = list(session.scalars(select(Patient).where(Patient.id.in_(ids))))
        patients.sort(key=lambda p: p.id)
        result = assess(session, patients, now, today, source_priority, cached=True, save=True)
        return apply_findings(session, result.findings, result.today, result.settled_through, now)


def _reason(err: Exception) -> str:
    return str(err) if isinstance(err, StridewiseError) else f"{type(err).__name__}: {err}"
