"""IEEE 1752.1 physical-activity data points from a patient's slice.

A data point is a ``header`` (uuid, the body's schema id ``ieee:physical-activity:1.0``,
when it was created, modality ``sensed``, the source devices as external datasheets)
and a ``body.activity`` list of physical-activity items: one per stored interval at
the source's own resolution, or one per local day. Times are RFC 3339 with each
sample's own UTC offset, so a DST or travel day keeps the clock the wearer lived.

The same days as the FHIR export count: valid or provisional days with steps.
Intervals without steps are left out (an episode of activity has movements), and
a day not worn has no item at all: never a 0. The schema files in ``schemas/``
are written from the standard's published definitions (see each file's ``$comment``).
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from functools import cache
from pathlib import Path
from urllib.parse import quote
from zoneinfo import ZoneInfo

import pandas as pd

from core.clock import patient_zone
from interop.fhir import device_key, source_keys
from interop.slices import PatientSlice

SCHEMA_DIR = Path(__file__).with_name("schemas")
DATA_POINT_SCHEMA = "activity-data-point-1.0.json"
SCHEMA_ID = {"namespace": "ieee", "name": "physical-activity", "version": "1.0"}
ACTIVITY = "walking"
SOURCE_URN = "urn:stridewise:source:"


@cache
def _zone(seconds: int) -> timezone:
    return timezone(timedelta(seconds=seconds))


def rfc3339(instant: datetime, offset_s: int) -> str:
    """``instant`` on the clock of a sample whose UTC offset is ``offset_s``."""
    return instant.astimezone(_zone(offset_s)).isoformat()


def _item(steps: int, start: str, end: str) -> dict:
    return {
        "activity_name": ACTIVITY,
        "base_movement_quantity": {"value": steps, "unit": "steps"},
        "effective_time_frame": {"time_interval": {"start_date_time": start, "end_date_time": end}},
    }


def counted_days(s: PatientSlice, first: date | None, last: date | None) -> pd.DataFrame:
    """The day rows both exports speak for: valid or provisional, with steps, in range."""
    days = s.days
    if days.empty:
        return days
    dates = pd.to_datetime(days["local_date"]).dt.date
    keep = days["status"].astype(str).isin(["valid", "provisional"]) & (days["steps"] > 0)
    if first:
        keep &= dates >= first
    if last:
        keep &= dates <= last
    return days[keep]


def interval_items(s: PatientSlice, days: pd.DataFrame) -> list[dict]:
    """One item per counting interval with steps on the given days."""
    rows = s.intervals
    if rows.empty or days.empty:
        return []
    wanted = set(pd.to_datetime(days["local_date"]))
    rows = rows[rows["local_date"].isin(wanted) & (rows["steps"] > 0)].sort_values("start_utc")
    return [
        _item(
            int(r.steps), rfc3339(r.start_utc, r.utc_offset_s), rfc3339(r.end_utc, r.utc_offset_s)
        )
        for r in rows.itertuples(index=False)
    ]


def _clock(zone: ZoneInfo, instant: datetime, offset_s: int) -> tzinfo:
    """The wearer's clock at ``instant``: their zone while the sample agrees with it
    (so DST moves with it), else the sample's own fixed offset (they travelled)."""
    if instant.astimezone(zone).utcoffset() == timedelta(seconds=offset_s):
        return zone
    return _zone(offset_s)


def day_items(s: PatientSlice, days: pd.DataFrame) -> list[dict]:
    """One item per local day, midnight to midnight on the wearer's clock at the day's
    first and last sample (23 h on a spring-forward day, 19 h flying five zones east);
    the patient's zone where the day has only a total."""
    zone = patient_zone(s.timezone)
    edges: dict[pd.Timestamp, tuple[tzinfo, tzinfo]] = {}
    if not s.intervals.empty:
        ordered = s.intervals.sort_values("start_utc").groupby("local_date")
        firsts, lasts = ordered.first(), ordered.last()
        for local in firsts.index:
            a, b = firsts.loc[local], lasts.loc[local]
            edges[local] = (
                _clock(zone, a.start_utc.to_pydatetime(), int(a.utc_offset_s)),
                _clock(zone, b.start_utc.to_pydatetime(), int(b.utc_offset_s)),
            )
    items = []
    for day in days.itertuples(index=False):
        local = pd.Timestamp(day.local_date)
        start_clock, end_clock = edges.get(local, (zone, zone))
        start = datetime.combine(local.date(), time.min, start_clock)
        end = datetime.combine(local.date() + timedelta(days=1), time.min, end_clock)
        items.append(_item(int(day.steps), start.isoformat(), end.isoformat()))
    return items


def _datasheets(s: PatientSlice, days: pd.DataFrame) -> list[dict]:
    """The source devices behind the days, as ``urn:stridewise:source:provider/device``."""
    names: dict[str, None] = {}
    for source in days["source"].astype(str).unique() if not days.empty else ():
        for provider, device in (device_key(s, *k) for k in source_keys(source)):
            names[f"{provider}/{device}" if device else provider] = None
    return [
        {"datasheet_type": "source_device", "datasheet_reference": f"{SOURCE_URN}{quote(n)}"}
        for n in names
    ]


def data_point(
    s: PatientSlice,
    now: datetime,
    first: date | None = None,
    last: date | None = None,
    per_day: bool = False,
) -> dict:
    """The patient's activity in range as one data point (per interval, or per day)."""
    days = counted_days(s, first, last)
    return {
        "header": {
            "uuid": str(uuid.uuid4()),
            "schema_id": dict(SCHEMA_ID),
            "source_creation_date_time": now.astimezone(UTC).isoformat(timespec="seconds"),
            "modality": "sensed",
            "external_datasheets": _datasheets(s, days),
        },
        "body": {"activity": day_items(s, days) if per_day else interval_items(s, days)},
    }
