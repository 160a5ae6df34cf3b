"""What the exporters read about one patient, loaded a chunk of patients at a time.

A :class:`PatientSlice` holds plain frames and values, so the builders in
:mod:`interop.fhir` and :mod:`interop.ieee` stay pure. :func:`clinic_slices`
loads patients in chunks so a whole-clinic export holds only one chunk in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.schema import DeviceInfo
from ingest import dayview
from ingest.models import Device, Patient
from rules.evaluate import assess
from rules.programme_config import patient_config

# The day-table columns the exporters read (rules.metrics.day_metrics + programme week).
DAY_FIELDS = [
    "local_date",
    "steps",
    "source",
    "basis",
    "status",
    "settled",
    "walking_minutes",
    "has_intraday",
    "week",
]
PLAN_FIELDS = ["week", "week_start", "level", "walks_planned", "minutes_planned", "phase"]
CHUNK_PATIENTS = 200


@dataclass(frozen=True, slots=True)
class PatientSlice:
    """One patient's exportable state: day table, plan, devices and (for IEEE) intervals."""

    patient_id: str
    name: str
    timezone: str | None
    today: date
    goal_walks: int
    goal_minutes: int
    days: pd.DataFrame  # DAY_FIELDS, one row per local date, in date order
    plan: pd.DataFrame  # PLAN_FIELDS, one row per programme week
    devices: tuple[DeviceInfo, ...] = ()
    intervals: pd.DataFrame = field(default_factory=pd.DataFrame)  # merged, counting ones


def _devices(session: Session, ids: Sequence[str]) -> dict[str, list[DeviceInfo]]:
    found: dict[str, list[DeviceInfo]] = {pid: [] for pid in ids}
    for row in session.scalars(
        select(Device).where(Device.patient_id.in_(list(ids))).order_by(Device.id)
    ):
        found[row.patient_id].append(
            DeviceInfo(
                row.patient_id, row.provider, row.device, row.platform, row.form_factor,
                row.manufacturer,
            )
        )  # fmt: skip
    return found


def _by_patient(frame: pd.DataFrame, columns: list[str]) -> dict[str, pd.DataFrame]:
    if frame.empty:
        return {}
    return {
        pid: part[columns].reset_index(drop=True)
        for pid, part in frame.groupby("patient_id", sort=False, observed=True)
    }


def load_slices(
    session: Session,
    patients: Sequence[Patient],
    now: datetime,
    first: date | None = None,
    last: date | None = None,
    with_intervals: bool = False,
    source_priority: Sequence[str] = dayview.DEFAULT_SOURCE_PRIORITY,
) -> list[PatientSlice]:
    """The patients' slices as the rules see them at ``now``; days outside
    [first, last] are kept only as far as whole programme weeks need them."""
    if not patients:
        return []
    ids = [p.id for p in patients]
    result = assess(session, list(patients), now, None, source_priority, cached=True)
    days = _by_patient(result.days, DAY_FIELDS) if not result.days.empty else {}
    plans = _by_patient(result.plan, PLAN_FIELDS) if not result.plan.empty else {}
    devices = _devices(session, ids)
    intervals: dict[str, pd.DataFrame] = {}
    if with_intervals:
        merged = dayview.load(session, ids, first, last, source_priority).merged
        intervals = _by_patient(merged, list(merged.columns))
    empty_days = pd.DataFrame(columns=DAY_FIELDS)
    empty_plan = pd.DataFrame(columns=PLAN_FIELDS)
    out = []
    for patient in patients:
        config = patient_config(patient.programme, patient.overrides)
        out.append(
            PatientSlice(
                patient_id=patient.id,
                name=patient.name,
                timezone=patient.timezone,
                today=result.today.get(patient.id) or now.date(),
                goal_walks=config.goal_walks_per_week,
                goal_minutes=config.goal_minutes_per_walk,
                days=days.get(patient.id, empty_days),
                plan=plans.get(patient.id, empty_plan),
                devices=tuple(devices[patient.id]),
                intervals=intervals.get(patient.id, pd.DataFrame()),
            )
        )
    return out


def clinic_slices(
    session: Session,
    now: datetime,
    patient_ids: Sequence[str] | None = None,
    chunk: int = CHUNK_PATIENTS,
    **options,
) -> Iterator[PatientSlice]:
    """Every patient's slice (or the given ones'), ``chunk`` patients loaded at a time."""
    query = select(Patient.id).order_by(Patient.id)
    if patient_ids is not None:
        query = query.where(Patient.id.in_(list(patient_ids)))
    ids = list(session.scalars(query))
    for lo in range(0, len(ids), chunk):
        batch = list(session.scalars(select(Patient).where(Patient.id.in_(ids[lo : lo + chunk]))))
        batch.sort(key=lambda p: p.id)
        yield from load_slices(session, batch, now, **options)
        session.expunge_all()
