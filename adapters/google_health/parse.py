"""Google Health JSON -> normalised samples.

A point that is merely bad (missing field, negative count, an interval that
ends before it starts, an impossible offset) is skipped with a reason; the
good points beside it are kept. Each sample's local date comes from its own
``startUtcOffset`` (see :attr:`core.schema.StepInterval.local_date`), so
travel and DST days land steps on the day the wearer lived them.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from core.schema import MAX_UTC_OFFSET_S, DailyTotal, DeviceInfo, StepInterval

PROVIDER = "google-health"
MAX_COUNT = 1_000_000  # the discovery document's range for steps.count
_DURATION = re.compile(r"^(-?\d+)(?:\.\d{1,9})?s$")


class _Bad(ValueError):
    pass


def _get(obj: object, *path: str) -> object:
    for key in path:
        if not isinstance(obj, dict) or obj.get(key) is None:
            raise _Bad(f"missing {'.'.join(path)}")
        obj = obj[key]
    return obj


def _offset_s(text: object, name: str) -> int:
    match = _DURATION.match(text) if isinstance(text, str) else None
    if not match:
        raise _Bad(f"{name} {text!r} is not a duration like '3600s'")
    seconds = int(match.group(1))
    if abs(seconds) > MAX_UTC_OFFSET_S:
        raise _Bad(f"{name} {text!r} is beyond +-14 h")
    return seconds


def _instant(text: object, name: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise _Bad(f"{name} {text!r} is not an RFC 3339 time") from None
    if value.tzinfo is None:
        raise _Bad(f"{name} {text!r} has no UTC offset")
    return value.astimezone(UTC)


def _count(value: object, name: str) -> int:
    """int64 arrives as a JSON string; a plain number is accepted too."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _Bad(f"{name} {value!r} is not a number")
    try:
        count = int(value)
    except ValueError:
        raise _Bad(f"{name} {value!r} is not a whole number") from None
    if count < 0:
        raise _Bad(f"negative {name} {count}")
    if count > MAX_COUNT:
        raise _Bad(f"{name} {count} is beyond {MAX_COUNT}")
    return count


def _provenance(point: dict, patient_id: str) -> tuple[DeviceInfo, str | None]:
    """The stream a point belongs to (its device's display name, else its platform)
    and how it was recorded."""
    source = point.get("dataSource")
    source = source if isinstance(source, dict) else {}
    device = source.get("device")
    device = device if isinstance(device, dict) else {}
    platform = source.get("platform")
    name = str(device.get("displayName") or platform or "unknown")
    info = DeviceInfo(
        patient_id, PROVIDER, name, platform, device.get("formFactor"), device.get("manufacturer")
    )
    return info, source.get("recordingMethod")


def parse_points(
    points: object, patient_id: str
) -> tuple[list[StepInterval], dict[str, DeviceInfo], list[str]]:
    """One list page's ``dataPoints`` -> intervals, the devices seen, and skip reasons."""
    intervals: list[StepInterval] = []
    devices: dict[str, DeviceInfo] = {}
    skipped: list[str] = []
    if not isinstance(points, list):
        return intervals, devices, [f"dataPoints is {type(points).__name__}, not a list"]
    for index, point in enumerate(points):
        try:
            if not isinstance(point, dict):
                raise _Bad("not a JSON object")
            interval = _get(point, "steps", "interval")
            start = _instant(_get(interval, "startTime"), "startTime")
            end = _instant(_get(interval, "endTime"), "endTime")
            if end <= start:
                raise _Bad(f"interval ends ({end:%H:%M:%S}) before it starts ({start:%H:%M:%S})")
            offset = _offset_s(_get(interval, "startUtcOffset"), "startUtcOffset")
            steps = _count(_get(point, "steps", "count"), "count")
        except _Bad as err:
            name = point.get("name") if isinstance(point, dict) else None
            skipped.append(f"data point {name or f'#{index}'}: {err}")
            continue
        info, method = _provenance(point, patient_id)
        intervals.append(
            StepInterval(patient_id, PROVIDER, info.device, start, end, offset, steps, method)
        )
        devices.setdefault(info.device, info)
    return intervals, devices, skipped


def _civil_date(value: object, name: str) -> date:
    civil = _get(value, "date")
    try:
        return date(int(civil["year"]), int(civil["month"]), int(civil["day"]))  # type: ignore[index]
    except (KeyError, TypeError, ValueError):
        raise _Bad(f"{name} {civil!r} is not a calendar date") from None


def parse_rollups(
    rollups: object, patient_id: str, today: date, fetched_at: datetime
) -> tuple[list[DailyTotal], list[str]]:
    """``rollupDataPoints`` of one-day windows -> daily totals (today's is provisional)."""
    totals: list[DailyTotal] = []
    skipped: list[str] = []
    if not isinstance(rollups, list):
        return totals, [f"rollupDataPoints is {type(rollups).__name__}, not a list"]
    for index, window in enumerate(rollups):
        try:
            day = _civil_date(_get(window, "civilStartTime"), "civilStartTime")
            end = _civil_date(_get(window, "civilEndTime"), "civilEndTime")
            if end != day + timedelta(days=1):
                raise _Bad(f"window {day}..{end} is not one day")
            steps = _count(_get(window, "steps", "countSum"), "countSum")
        except _Bad as err:
            skipped.append(f"daily roll-up #{index}: {err}")
            continue
        totals.append(DailyTotal(patient_id, PROVIDER, day, steps, day >= today, fetched_at))
    return totals, skipped
