"""A FHIR Bundle of daily-steps Observations back into daily totals.

Each entry is mapped on its own: a daily-steps Observation (LOINC 41950-7, UCUM
``/d``, a date-only effective date, a subject carrying a stridewise patient
identifier) becomes a :class:`core.schema.DailyTotal` whose provider is the
source its Device names (``urn:stridewise:source``), or ``fhir`` for a device
from elsewhere. Anything else is refused with a reason, or skipped when it is
context (Patient, Device) or state stridewise computes itself (weekly minutes,
Goal, CarePlan); good entries beside bad ones are kept.

Storing compares each figure with the day view first: a day that already shows
the same steps from the same provider is left alone, so importing a Bundle this
system exported changes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.errors import StridewiseError
from core.schema import DailyTotal, DeviceInfo, StepBatch
from ingest import dayview
from ingest.models import Device, Patient
from ingest.store import write_batch
from interop.fhir import (
    DAILY_STEPS,
    LOINC,
    PATIENT_SYSTEM,
    SOURCE_SYSTEM,
    UCUM,
    WEEKLY_MINUTES,
    source_keys,
)
from interop.validate import problem

FOREIGN_PROVIDER = "fhir"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_FINAL = {"final", "amended", "corrected"}
_SKIPPED_TYPES = {
    "Goal": "the programme's goal is set here, not imported",
    "CarePlan": "the weekly plan is computed here, not imported",
}


@dataclass(frozen=True, slots=True)
class Mapped:
    where: str
    total: DailyTotal
    device: DeviceInfo | None


@dataclass
class ParsedBundle:
    mapped: list[Mapped] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class ImportReport:
    entries: int = 0
    imported: int = 0  # new or revised daily totals
    unchanged: int = 0  # already shown by the day view
    skipped: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)


class _Refused(Exception):
    pass


def _where(index: int, resource: object) -> str:
    if isinstance(resource, dict) and resource.get("resourceType"):
        return f"entry {index} ({resource['resourceType']}/{resource.get('id', '?')})"
    return f"entry {index}"


def _lookup(entries: list) -> dict[str, dict]:
    """Resources by every name a reference may use: fullUrl and Type/id."""
    found = {}
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            continue
        if isinstance(entry.get("fullUrl"), str):
            found[entry["fullUrl"]] = resource
        if resource.get("id"):
            found[f"{resource.get('resourceType')}/{resource['id']}"] = resource
    return found


def _identifier(identifiers: object, system: str) -> str | None:
    for ident in identifiers if isinstance(identifiers, list) else []:
        if isinstance(ident, dict) and ident.get("system") == system and ident.get("value"):
            return str(ident["value"])
    return None


def _target(reference: object, lookup: dict[str, dict]) -> dict | None:
    if not isinstance(reference, dict):
        return None
    ref = reference.get("reference")
    if not isinstance(ref, str):
        return None
    return lookup.get(ref) or lookup.get("/".join(ref.rsplit("/", 2)[-2:]))


def _patient_id(obs: dict, lookup: dict[str, dict]) -> str:
    subject = obs.get("subject")
    if not isinstance(subject, dict):
        raise _Refused("no subject")
    found = _identifier([subject.get("identifier")], PATIENT_SYSTEM)
    patient = _target(subject, lookup)
    if not found and patient and patient.get("resourceType") == "Patient":
        found = _identifier(patient.get("identifier"), PATIENT_SYSTEM)
    if not found:
        raise _Refused(
            f"subject {subject.get('reference', '?')} has no patient identifier "
            f"with system {PATIENT_SYSTEM}"
        )
    return found


def _source(obs: dict, patient_id: str, lookup: dict[str, dict]) -> tuple[str, DeviceInfo | None]:
    """The provider the figure is stored under, and the device it names."""
    reference = obs.get("device")
    device = _target(reference, lookup)
    if device and device.get("resourceType") == "Device":
        own = _identifier(device.get("identifier"), SOURCE_SYSTEM)
        if own:
            provider, _, name = own.partition("/")
            if not name:
                return provider, None
            return provider, DeviceInfo(
                patient_id, provider, name, None,
                (device.get("type") or {}).get("text"), device.get("manufacturer"),
            )  # fmt: skip
        names = device.get("deviceName") or [{}]
        label = names[0].get("name") or (reference or {}).get("display")
    else:
        label = (reference or {}).get("display") if isinstance(reference, dict) else None
    name = str(label or (obs.get("meta") or {}).get("source") or "unknown")[:128]
    return FOREIGN_PROVIDER, DeviceInfo(patient_id, FOREIGN_PROVIDER, name)


def _local_date(obs: dict) -> date:
    when = obs.get("effectiveDateTime")
    period = obs.get("effectivePeriod")
    if when is None and isinstance(period, dict) and period.get("start") == period.get("end"):
        when = period.get("start")
    if not isinstance(when, str):
        raise _Refused("no effectiveDateTime: a daily total needs its local date")
    if not _DATE.match(when):
        raise _Refused(f"effectiveDateTime {when!r} is not a date: a daily total is one local day")
    return date.fromisoformat(when)


def _steps(obs: dict) -> int:
    quantity = obs["valueQuantity"]
    unit = (quantity.get("system"), quantity.get("code"))
    if unit != (UCUM, "/d"):
        raise _Refused(f"unit {quantity.get('code') or quantity.get('unit')!r} is not UCUM /d")
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        raise _Refused(f"steps {value!r} is not a whole number")
    if value < 0:
        raise _Refused(f"negative steps ({value})")
    return int(value)


def _fetched_at(obs: dict, now: datetime) -> datetime:
    stamp = (obs.get("meta") or {}).get("lastUpdated") or obs.get("issued")
    try:
        parsed = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
    except ValueError:
        parsed = None
    return parsed.astimezone(UTC) if parsed and parsed.tzinfo else now


def _map_observation(obs: dict, lookup: dict[str, dict], now: datetime) -> Mapped | str:
    """The daily total, or (a str) why the entry is skipped; raises _Refused."""
    codes = [
        c.get("code")
        for c in (obs.get("code") or {}).get("coding") or []
        if c.get("system") == LOINC
    ]
    if WEEKLY_MINUTES in codes and DAILY_STEPS not in codes:
        return "weekly walking minutes are recomputed here from the steps"
    if DAILY_STEPS not in codes:
        shown = ", ".join(str(c) for c in codes) or "no LOINC code"
        raise _Refused(f"code {shown} is not daily steps (LOINC {DAILY_STEPS})")
    status = obs.get("status")
    if status not in _FINAL and status != "preliminary":
        raise _Refused(f"status {status!r} is not a measurement to keep")
    if "valueQuantity" not in obs:
        absent = (obs.get("dataAbsentReason") or {}).get("coding") or [{}]
        if obs.get("dataAbsentReason"):
            return f"no figure for the day (dataAbsentReason {absent[0].get('code')})"
        raise _Refused("no valueQuantity")
    steps = _steps(obs)
    day = _local_date(obs)
    patient_id = _patient_id(obs, lookup)
    provider, device = _source(obs, patient_id, lookup)
    total = DailyTotal(patient_id, provider, day, steps, status == "preliminary",
                       _fetched_at(obs, now))  # fmt: skip
    return Mapped("", total, device)


def parse_bundle(data: object, now: datetime) -> ParsedBundle:
    """Map every entry of a Bundle (pure: no database)."""
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise _bundle_error(data)
    entries = data.get("entry") or []
    if not isinstance(entries, list):
        raise _bundle_error(data)
    lookup = _lookup(entries)
    parsed = ParsedBundle()
    seen: dict[tuple, str] = {}
    for index, entry in enumerate(entries, start=1):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        where = _where(index, resource)
        kind = resource.get("resourceType") if isinstance(resource, dict) else None
        if kind in ("Patient", "Device"):
            continue  # context the Observations point at
        if kind in _SKIPPED_TYPES:
            parsed.skipped.append((where, _SKIPPED_TYPES[kind]))
            continue
        reason = problem(resource)
        if reason:
            parsed.refused.append((where, f"not valid FHIR: {reason}"))
            continue
        if kind != "Observation":
            parsed.refused.append((where, f"a {kind} is not step data"))
            continue
        try:
            result = _map_observation(resource, lookup, now)
        except _Refused as err:
            parsed.refused.append((where, str(err)))
            continue
        if isinstance(result, str):
            parsed.skipped.append((where, result))
            continue
        t = result.total
        key = (t.patient_id, t.provider, t.local_date)
        if key in seen:
            parsed.refused.append((where, f"{t.local_date} of {t.patient_id} repeats {seen[key]}"))
            continue
        seen[key] = where
        parsed.mapped.append(Mapped(where, t, result.device))
    return parsed


def _bundle_error(data: object) -> StridewiseError:
    kind = data.get("resourceType") if isinstance(data, dict) else type(data).__name__
    return StridewiseError(f"expected a FHIR Bundle with an entry list, got {kind!r}")


def _shown(session: Session, mapped: list[Mapped]) -> dict[tuple[str, date], tuple[int, set]]:
    """What the day view shows now for the mapped days: (steps, providers)."""
    if not mapped:
        return {}
    ids = sorted({m.total.patient_id for m in mapped})
    dates = [m.total.local_date for m in mapped]
    days = dayview.load(session, ids, min(dates), max(dates)).days
    return {
        (row.patient_id, row.local_date.date()): (
            int(row.steps),
            {provider for provider, _ in source_keys(str(row.source))},
        )
        for row in days.itertuples(index=False)
        if not pd.isna(row.steps)
    }


def store_bundle(session: Session, data: object, now: datetime) -> ImportReport:
    """Map and store a Bundle in ``session``'s transaction (the caller commits)."""
    parsed = parse_bundle(data, now)
    report = ImportReport(
        entries=len(data.get("entry") or []), skipped=parsed.skipped, refused=parsed.refused
    )
    ids = {m.total.patient_id for m in parsed.mapped}
    known = set(session.scalars(select(Patient.id).where(Patient.id.in_(ids)))) if ids else set()
    mapped = []
    for m in parsed.mapped:
        if m.total.patient_id in known:
            mapped.append(m)
        else:
            report.refused.append((m.where, f"no patient {m.total.patient_id!r} here"))
    shown = _shown(session, mapped)
    batch = StepBatch()
    for m in mapped:
        t = m.total
        steps, providers = shown.get((t.patient_id, t.local_date), (None, set()))
        if steps == t.steps and t.provider in providers:
            report.unchanged += 1
            continue
        batch.daily_totals.append(t)
        if m.device:
            batch.devices.append(m.device)
    batch.devices = _new_devices(session, batch.devices)
    written = write_batch(session, batch)
    report.imported = written.totals_changed
    report.unchanged += written.totals_accepted - written.totals_changed
    for rejection in written.rejected:
        if rejection.table == "daily_totals":
            where = batch.daily_totals[rejection.index]
            report.refused.append((f"{where.patient_id} {where.local_date}", rejection.reason))
    return report


def _new_devices(session: Session, devices: list[DeviceInfo]) -> list[DeviceInfo]:
    """Only devices not yet known: an import never overwrites what a sync learned."""
    if not devices:
        return []
    ids = {d.patient_id for d in devices}
    known = set(
        session.execute(
            select(Device.patient_id, Device.provider, Device.device).where(
                Device.patient_id.in_(ids)
            )
        ).all()
    )
    return [d for d in devices if (d.patient_id, d.provider, d.device) not in known]
