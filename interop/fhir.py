"""FHIR R4 resources from a patient's slice, after the HL7 Physical Activity IG.

Source: HL7 FHIR US Physical Activity IG 1.0.0 (STU1, FHIR 4.0.1), profile
``pa-observation-time-measure`` and its example ``ExampleDailySteps``
(github.com/HL7/physical-activity, input/fsh/ObservationExerciseSupport.fsh and
ExampleObservations.fsh).

- Daily steps: LOINC 41950-7, both categories, UCUM ``/d``, a date-only
  ``effectiveDateTime`` (the wearer's local date), ``preliminary`` while the day
  may still change and ``final`` once settled, ``device`` the source it came from.
  A missing day gets nothing; a settled low-wear day gets an Observation with
  ``dataAbsentReason`` and no value, so a ``preliminary`` figure sent earlier is
  superseded instead of left standing. Never a 0 for a day not worn.
- Weekly walking minutes: LOINC 82290-8 in ``min/wk`` over the programme week
  (date-only ``effectivePeriod``), from the rules' walking bouts.
- The prescription as a Goal, the current week's plan as a CarePlan, the
  Patient with its identifier, one Device per source.

Ids are UUIDs derived from (patient, code, date), so exporting again updates the
same resources. ``Refs`` decides how resources point at each other: ``urn:uuid``
inside a Bundle, ``Type/id`` in Bulk Data NDJSON.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import lru_cache

import numpy as np
import pandas as pd

from core.schema import DeviceInfo
from interop.slices import PatientSlice

LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
OBS_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
PA_CODES = "http://hl7.org/fhir/us/physical-activity/CodeSystem/pa-temporary-codes"
DATA_ABSENT = "http://terminology.hl7.org/CodeSystem/data-absent-reason"
PA_TIME_MEASURE = (
    "http://hl7.org/fhir/us/physical-activity/StructureDefinition/pa-observation-time-measure"
)
PATIENT_SYSTEM = "urn:stridewise:patient-id"
SOURCE_SYSTEM = "urn:stridewise:source"  # value "provider/device" (or "provider")

DAILY_STEPS = "41950-7"
WEEKLY_MINUTES = "82290-8"
DAYS_PER_WEEK = "89555-7"
CODE_DISPLAY = {
    DAILY_STEPS: "Number of steps in 24 hour Measured",
    WEEKLY_MINUTES: "Frequency of moderate to vigorous aerobic physical activity",
    DAYS_PER_WEEK: "Days per week of moderate to vigorous physical activity",
}
CATEGORIES = [
    {"coding": [{"system": OBS_CATEGORY, "code": "activity", "display": "Activity"}]},
    {"coding": [{"system": PA_CODES, "code": "PhysicalActivity", "display": "Physical Activity"}]},
]
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:stridewise:fhir")
# "garmin/fenix-7+google-health/pixel": split where the next source's "provider/" begins.
_SOURCE_SPLIT = re.compile(r"\+(?=[a-z0-9][a-z0-9_-]*/)")
_DAILY_TOTAL = " (daily total)"

Refs = Callable[[str, str], str]


def bundle_ref(resource_type: str, rid: str) -> str:
    return f"urn:uuid:{rid}"


def bulk_ref(resource_type: str, rid: str) -> str:
    return f"{resource_type}/{rid}"


def stable_id(patient_id: str, code: str, when: object = "") -> str:
    """The resource id of (patient, code, date): the same on every export."""
    return str(uuid.uuid5(_NAMESPACE, f"{patient_id}|{code}|{when}"))


def _concept(code: str) -> dict:
    return {"coding": [{"system": LOINC, "code": code, "display": CODE_DISPLAY[code]}]}


def _quantity(value: int, unit: str, code: str) -> dict:
    return {"value": value, "unit": unit, "system": UCUM, "code": code}


def _ref(refs: Refs, resource_type: str, rid: str, display: str | None = None) -> dict:
    out = {"reference": refs(resource_type, rid)}
    if display:
        out["display"] = display
    return out


def patient_resource(s: PatientSlice) -> dict:
    return {
        "resourceType": "Patient",
        "id": stable_id(s.patient_id, "Patient"),
        "identifier": [{"system": PATIENT_SYSTEM, "value": s.patient_id}],
        "active": True,
        "name": [{"text": s.name}],
    }


# --- devices -----------------------------------------------------------------------


@lru_cache(maxsize=4096)
def source_keys(source: str) -> tuple[tuple[str, str | None], ...]:
    """(provider, device) of each source named by a day row, largest contributor first;
    device ``None`` for a provider's daily total."""
    if not source:
        return ()
    if source.endswith(_DAILY_TOTAL):
        return ((source[: -len(_DAILY_TOTAL)], None),)
    keys = []
    for part in _SOURCE_SPLIT.split(source):
        provider, _, device = part.partition("/")
        keys.append((provider, device or None))
    return tuple(keys)


def device_key(s: PatientSlice, provider: str, device: str | None) -> tuple[str, str | None]:
    """A daily total names only its provider: it is that provider's device when the
    patient has exactly one there."""
    if device is None:
        known = [d.device for d in s.devices if d.provider == provider]
        if len(known) == 1:
            return provider, known[0]
    return provider, device


def device_id(patient_id: str, provider: str, device: str | None) -> str:
    return stable_id(patient_id, "Device", f"{provider}/{device or ''}")


def device_label(provider: str, device: str | None, info: DeviceInfo | None = None) -> str:
    maker = f"{info.manufacturer} " if info and info.manufacturer else ""
    return f"{maker}{device} ({provider})" if device else f"{provider} (daily totals)"


def device_resource(
    s: PatientSlice, provider: str, device: str | None, refs: Refs = bundle_ref
) -> dict:
    info = _info(s, provider, device)
    out: dict = {
        "resourceType": "Device",
        "id": device_id(s.patient_id, provider, device),
        "identifier": [
            {"system": SOURCE_SYSTEM, "value": f"{provider}/{device}" if device else provider}
        ],
        "status": "active",
        "deviceName": [
            {"name": device, "type": "model-name"}
            if device
            else {"name": f"{provider} daily totals", "type": "other"}
        ],
        "patient": _ref(refs, "Patient", stable_id(s.patient_id, "Patient")),
    }
    if info and info.manufacturer:
        out["manufacturer"] = info.manufacturer
    if info and info.form_factor:
        out["type"] = {"text": info.form_factor}
    return out


# --- observations --------------------------------------------------------------------


def _observation(s: PatientSlice, code: str, when: str, status: str, refs: Refs) -> dict:
    patient = _ref(refs, "Patient", stable_id(s.patient_id, "Patient"))
    out = {
        "resourceType": "Observation",
        "id": stable_id(s.patient_id, code, when),
        "status": status,
        "category": CATEGORIES,
        "code": _concept(code),
        "subject": patient,
        "performer": [patient],
    }
    if status == "final":
        out["meta"] = {"profile": [PA_TIME_MEASURE]}
    return out


def daily_steps(s: PatientSlice, day, refs: Refs = bundle_ref) -> dict | None:
    """The day's Observation (``day``: a row of the day table), or ``None`` for a day
    with nothing to say (missing, or low wear not yet settled)."""
    status, steps = str(day.status), int(day.steps)
    when = pd.Timestamp(day.local_date).date().isoformat()
    if status in ("valid", "provisional") and steps > 0:
        obs = _observation(s, DAILY_STEPS, when, "final" if day.settled else "preliminary", refs)
        obs["effectiveDateTime"] = when
        obs["valueQuantity"] = _quantity(steps, "steps per day", "/d")
        keys = [device_key(s, p, d) for p, d in source_keys(str(day.source))]
        if keys:
            provider, device = keys[0]
            obs["device"] = _ref(
                refs, "Device", device_id(s.patient_id, provider, device),
                device_label(provider, device, _info(s, provider, device)),
            )  # fmt: skip
        if len(keys) > 1:
            names = ", ".join(f"{p}/{d}" for p, d in keys)
            obs["note"] = [{"text": f"one figure from {names}, never added where they overlap"}]
        return obs
    if status == "low_wear" and day.settled:
        obs = _observation(s, DAILY_STEPS, when, "final", refs)
        del obs["meta"]  # the profile requires a value
        obs["effectiveDateTime"] = when
        obs["dataAbsentReason"] = {
            "coding": [{"system": DATA_ABSENT, "code": "unknown", "display": "Unknown"}],
            "text": "wearable worn too little to count the day",
        }
        return obs
    return None


def _info(s: PatientSlice, provider: str, device: str | None) -> DeviceInfo | None:
    return next((d for d in s.devices if (d.provider, d.device) == (provider, device)), None)


@dataclass(frozen=True, slots=True)
class WeekTally:
    """What a programme week's days add up to."""

    days: int  # days of the week in the day table
    measured: int  # of which with minute data
    minutes: int  # walking minutes on those
    settled: bool  # every day settled


def week_tallies(days: pd.DataFrame) -> dict[int, WeekTally]:
    """Per programme week (the day table is in date order, so weeks are runs)."""
    if days.empty:
        return {}
    weeks = days["week"].to_numpy(np.int64)
    measured = days["has_intraday"].to_numpy(bool)
    minutes = np.where(measured, days["walking_minutes"].to_numpy(np.int64), 0)
    heads = np.flatnonzero(np.r_[True, weeks[1:] != weeks[:-1]])
    sizes = np.diff(np.r_[heads, len(weeks)])
    counted = np.add.reduceat(measured.astype(np.int64), heads)
    walked = np.add.reduceat(minutes, heads)
    settled = np.logical_and.reduceat(days["settled"].to_numpy(bool), heads)
    return {
        int(weeks[h]): WeekTally(int(n), int(m), int(w), bool(s))
        for h, n, m, w, s in zip(heads, sizes, counted, walked, settled, strict=True)
    }


def weekly_minutes(
    s: PatientSlice, week_start: date, tally: WeekTally, refs: Refs = bundle_ref
) -> dict | None:
    """Walking minutes of one programme week, or ``None`` when no day of it has minute
    data (daily totals hold no bouts)."""
    if tally.measured == 0:
        return None
    week_end = week_start + timedelta(days=6)
    complete = week_end < s.today and tally.days == 7 and tally.settled
    obs = _observation(
        s, WEEKLY_MINUTES, week_start.isoformat(), "final" if complete else "preliminary", refs
    )
    obs["effectivePeriod"] = {"start": week_start.isoformat(), "end": week_end.isoformat()}
    obs["valueQuantity"] = _quantity(tally.minutes, "minutes per week", "min/wk")
    obs["note"] = [{"text": f"walking bouts on {tally.measured} of 7 days with minute data"}]
    return obs


# --- the programme ---------------------------------------------------------------


def goal_resource(s: PatientSlice, refs: Refs = bundle_ref) -> dict:
    walks, minutes = s.goal_walks, s.goal_minutes
    return {
        "resourceType": "Goal",
        "id": stable_id(s.patient_id, "Goal"),
        "lifecycleStatus": "active",
        "description": {
            "text": f"Walk {minutes} minutes, {walks} times a week, building up gradually"
        },
        "subject": _ref(refs, "Patient", stable_id(s.patient_id, "Patient")),
        "target": [
            {
                "measure": _concept(WEEKLY_MINUTES),
                "detailQuantity": _quantity(walks * minutes, "minutes per week", "min/wk"),
            },
            {
                "measure": _concept(DAYS_PER_WEEK),
                "detailQuantity": _quantity(walks, "days per week", "d/wk"),
            },
        ],
    }


def current_plan(s: PatientSlice, refs: Refs = bundle_ref) -> dict | None:
    """This week's prescription (walks x minutes) as a CarePlan, if a programme week runs."""
    if s.plan.empty:
        return None
    starts = pd.to_datetime(s.plan["week_start"]).dt.date
    running = s.plan[(starts <= s.today) & (starts > s.today - timedelta(days=7))]
    if running.empty:
        return None
    week = running.iloc[0]
    start = pd.Timestamp(week.week_start).date()
    walks, minutes = int(week.walks_planned), int(week.minutes_planned)
    text = f"Week {int(week.week) + 1}: {walks} walks of {minutes} minutes"
    return {
        "resourceType": "CarePlan",
        "id": stable_id(s.patient_id, "CarePlan", start.isoformat()),
        "status": "active",
        "intent": "plan",
        "title": text,
        "subject": _ref(refs, "Patient", stable_id(s.patient_id, "Patient")),
        "period": {"start": start.isoformat(), "end": (start + timedelta(days=6)).isoformat()},
        "goal": [_ref(refs, "Goal", stable_id(s.patient_id, "Goal"))],
        "activity": [
            {
                "detail": {
                    "kind": "ServiceRequest",
                    "code": {"text": "Walking at a brisk pace"},
                    "status": "in-progress",
                    "scheduledTiming": {
                        "repeat": {
                            "frequency": walks,
                            "period": 1,
                            "periodUnit": "wk",
                            "duration": minutes,
                            "durationUnit": "min",
                        }
                    },
                    "description": f"{text} (programme level {int(week.level)}, {week.phase})",
                }
            }
        ],
    }


def patient_resources(
    s: PatientSlice, first: date | None, last: date | None, refs: Refs = bundle_ref
) -> Iterator[dict]:
    """Every resource for the patient and local-date range: Patient, the Devices the
    Observations name, Goal, CarePlan, then daily and weekly Observations."""
    days = s.days
    if not days.empty and (first or last):
        dates = pd.to_datetime(days["local_date"]).dt.date
        keep = pd.Series(True, index=days.index)
        if first:
            keep &= dates >= first
        if last:
            keep &= dates <= last
        days = days[keep]
    observations, devices = [], {}
    for day in days.itertuples(index=False):
        obs = daily_steps(s, day, refs)
        if obs is None:
            continue
        observations.append(obs)
        if "device" in obs:
            devices[device_key(s, *source_keys(str(day.source))[0])] = None
    yield patient_resource(s)
    for provider, device in devices:
        yield device_resource(s, provider, device, refs)
    yield goal_resource(s, refs)
    plan = current_plan(s, refs)
    if plan:
        yield plan
    yield from observations
    yield from _weeks(s, first, last, refs)


def _weeks(s: PatientSlice, first: date | None, last: date | None, refs: Refs) -> Iterator[dict]:
    if s.plan.empty or s.days.empty:
        return
    tallies = week_tallies(s.days)
    for row in s.plan.itertuples(index=False):
        start = pd.Timestamp(row.week_start).date()
        if (first and start + timedelta(days=6) < first) or (last and start > last):
            continue
        tally = tallies.get(int(row.week))
        obs = weekly_minutes(s, start, tally, refs) if tally else None
        if obs:
            yield obs


def bundle(resources: list[dict], bundle_id: str, now: datetime) -> dict:
    """A ``collection`` Bundle of the resources, each under its ``urn:uuid`` fullUrl."""
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "type": "collection",
        "timestamp": now.isoformat(timespec="seconds"),
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in resources],
    }
