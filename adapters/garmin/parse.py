"""Garmin Connect JSON -> normalised samples. No I/O.

A response that is unusable as a whole raises :class:`BadData`; a single bad row
or bucket is skipped with a one-line reason so the good ones beside it are kept.
Absent data is not zero: a null ``totalSteps`` and a ``none`` bucket give no sample.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from core.errors import AuthRevoked, BadData
from core.schema import MAX_UTC_OFFSET_S, DailyTotal, DeviceInfo, StepInterval, local_date_of

PROVIDER = "garmin"
NO_DATA_LEVEL = "none"
MAX_BUCKET = timedelta(hours=1)


def parse_gmt(value: object) -> datetime:
    """``"2023-07-01T06:00:00.0"`` (UTC, no zone marker) as an aware UTC datetime."""
    if not isinstance(value, str):
        raise ValueError(f"not a timestamp: {value!r}")
    parsed = datetime.fromisoformat(value)
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _steps(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"steps {value!r} is not a count")
    return value


def daily_totals(
    rows: object, patient_id: str, first: date, last: date, today: date, now: datetime
) -> tuple[list[DailyTotal], list[str]]:
    """``stats/steps/daily`` rows for ``first..last``; today and later are provisional."""
    if not isinstance(rows, list):
        raise BadData(f"garmin: daily steps {first}..{last} is not a list")
    totals, skipped = [], []
    for row in rows:
        try:
            day = date.fromisoformat(row["calendarDate"])
            steps = row["totalSteps"]
            if not first <= day <= last:
                raise ValueError(f"{day} is outside the requested {first}..{last}")
            if steps is None:
                continue  # no data that day, which is not zero steps
            totals.append(
                DailyTotal(patient_id, PROVIDER, day, _steps(steps), day >= today, fetched_at=now)
            )
        except (TypeError, KeyError, ValueError) as err:
            skipped.append(f"garmin daily total {str(row)[:80]}: {err}")
    return totals, skipped


@dataclass(frozen=True, slots=True)
class DayFrame:
    """Where one local day sits in UTC, from that day's own summary."""

    day: date
    start_utc: datetime
    utc_offset_s: int  # at the start of the day (travel days carry the visited zone)


def day_frame(summary: object, day: date) -> DayFrame | None:
    """The day's start and offset (``wellnessStartTimeLocal - wellnessStartTimeGmt``),
    or None when the summary says the day holds no wellness data."""
    if not isinstance(summary, dict):
        raise BadData(f"garmin: summary for {day} is not an object")
    if summary.get("privacyProtected") is True:
        raise AuthRevoked("garmin: the account's data is privacy protected")
    if not summary or summary.get("includesWellnessData") is False:
        return None
    try:
        start = parse_gmt(summary["wellnessStartTimeGmt"])
        local = datetime.fromisoformat(summary["wellnessStartTimeLocal"]).replace(tzinfo=UTC)
    except (TypeError, KeyError, ValueError) as err:
        raise BadData(f"garmin: summary for {day} has no usable day start ({err})") from err
    offset = round((local - start).total_seconds())
    if abs(offset) > MAX_UTC_OFFSET_S or local.date() != day:
        raise BadData(f"garmin: summary for {day} starts at an impossible local time {local}")
    return DayFrame(day, start, offset)


def _offset_at(moment: datetime, frame: DayFrame, zone: ZoneInfo | None) -> int:
    """The patient's own zone gives exact DST changes within the day, but only when it
    agrees with the summary (on a travel day it does not, and the summary wins)."""
    if zone is not None:
        zone_offset = frame.start_utc.astimezone(zone).utcoffset()
        if round(zone_offset.total_seconds()) == frame.utc_offset_s:
            return round(moment.astimezone(zone).utcoffset().total_seconds())
    return frame.utc_offset_s


def intervals(
    buckets: object,
    frame: DayFrame,
    zone: ZoneInfo | None,
    patient_id: str,
    device: str,
) -> tuple[list[StepInterval], list[str]]:
    """``dailySummaryChart`` buckets as intervals; ``none`` buckets are no data, so a
    day of only ``none`` buckets (Garmin's 95-bucket empty or archived day) gives none."""
    if not isinstance(buckets, list):
        raise BadData(f"garmin: intraday steps for {frame.day} is not a list")
    out, skipped = [], []
    for bucket in buckets:
        try:
            if bucket.get("primaryActivityLevel") == NO_DATA_LEVEL and not bucket.get("steps"):
                continue
            start, end = parse_gmt(bucket["startGMT"]), parse_gmt(bucket["endGMT"])
            if not timedelta(0) < end - start <= MAX_BUCKET:
                raise ValueError(f"bucket {start}..{end} is not a 15-minute span")
            offset = _offset_at(start, frame, zone)
            if local_date_of(start, offset) != frame.day:
                raise ValueError(f"bucket at {start} UTC is not on {frame.day}")
            out.append(
                StepInterval(
                    patient_id, PROVIDER, device, start, end, offset, _steps(bucket["steps"])
                )
            )
        except (AttributeError, TypeError, KeyError, ValueError) as err:
            skipped.append(f"garmin bucket on {frame.day} {str(bucket)[:80]}: {err}")
    return out, skipped


def primary_device(devices: object, patient_id: str) -> DeviceInfo | None:
    """The account's step tracker (``primaryActivityTrackerIndicator``), else its only device."""
    if not isinstance(devices, list):
        raise BadData("garmin: device list is not a list")
    named = [d for d in devices if isinstance(d, dict) and d.get("productDisplayName")]
    primary = [d for d in named if d.get("primaryActivityTrackerIndicator") is True]
    chosen = primary or (named if len(named) == 1 else [])
    if not chosen:
        return None
    return DeviceInfo(
        patient_id,
        PROVIDER,
        str(chosen[0]["productDisplayName"]),
        platform="Garmin Connect",
        manufacturer="Garmin",
    )
