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
    """One list page's ``dataPoints`` -> intervals, the devices seen, and skip reasons.

    Each point is read on a fast path that checks exactly what :func:`_point` checks;
    a point it cannot take whole goes through :func:`_point`, which says why."""
    intervals: list[StepInterval] = []
    devices: dict[str, DeviceInfo] = {}
    skipped: list[str] = []
    if not isinstance(points, list):
        return intervals, devices, [f"dataPoints is {type(points).__name__}, not a list"]
    streams: dict[tuple, tuple[DeviceInfo, str | None]] = {}
    offsets = _OFFSETS
    fromiso, utc = datetime.fromisoformat, UTC
    for index, point in enumerate(points):
        try:
            steps = point["steps"]
            interval = steps["interval"]
            start, end = fromiso(interval["startTime"]), fromiso(interval["endTime"])
            offset = offsets[interval["startUtcOffset"]]
            count = steps["count"]
            count = int(count) if type(count) is str else count
            if (
                start.tzinfo is None
                or end.tzinfo is None
                or type(count) is not int
                or not 0 <= count <= MAX_COUNT
            ):
                raise _Bad
            start, end = start.astimezone(utc), end.astimezone(utc)
            if end <= start:
                raise _Bad
            stream = _stream(point, patient_id, streams)
        except (_Bad, KeyError, TypeError, ValueError):
            try:
                start, end, offset, count = _point(point)
            except _Bad as err:
                name = point.get("name") if isinstance(point, dict) else None
                skipped.append(f"data point {name or f'#{index}'}: {err}")
                continue
            stream = _provenance(point, patient_id)
        info, method = stream
        intervals.append(
            StepInterval(patient_id, PROVIDER, info.device, start, end, offset, count, method)
        )
        devices.setdefault(info.device, info)
    return intervals, devices, skipped


class _Offsets(dict):
    """``startUtcOffset`` text -> seconds, for the few valid texts a feed uses; an
    invalid one raises ``KeyError`` (the slow path then says why)."""

    def __missing__(self, text: object) -> int:
        try:
            seconds = _offset_s(text, "startUtcOffset")
        except _Bad:
            raise KeyError(text) from None
        if len(self) < 1024:
            self[text] = seconds
        return seconds


_OFFSETS = _Offsets()


def _stream(point: dict, patient_id: str, streams: dict) -> tuple[DeviceInfo, str | None]:
    """:func:`_provenance`, remembered per page for sources named by plain strings
    (only those: ``1 == True``, yet they name different devices). A point whose
    ``dataSource`` equals the previous point's is in the same stream."""
    source = point.get("dataSource")
    last = streams.get(_LAST)
    if last is not None and source == last[0]:
        return last[1]
    device = source.get("device") if type(source) is dict else None
    if type(device) is not dict:
        return _provenance(point, patient_id)
    key = (
        device.get("displayName"),
        source.get("platform"),
        device.get("formFactor"),
        device.get("manufacturer"),
        source.get("recordingMethod"),
    )
    if not all(part is None or type(part) is str for part in key):
        return _provenance(point, patient_id)
    found = streams.get(key)
    if found is None:
        found = streams[key] = _provenance(point, patient_id)
    streams[_LAST] = (source, found)
    return found


_LAST = ("last",)  # the slot of the previous point's source; never a stream's key


def _point(point: object) -> tuple[datetime, datetime, int, int]:
    """One point's start, end (UTC), offset and count, or :class:`_Bad` saying why."""
    if not isinstance(point, dict):
        raise _Bad("not a JSON object")
    interval = _get(point, "steps", "interval")
    start = _instant(_get(interval, "startTime"), "startTime")
    end = _instant(_get(interval, "endTime"), "endTime")
    if end <= start:
        raise _Bad(f"interval ends ({end:%H:%M:%S}) before it starts ({start:%H:%M:%S})")
    offset = _offset_s(_get(interval, "startUtcOffset"), "startUtcOffset")
    steps = _count(_get(point, "steps", "count"), "count")
    return start, end, offset, steps


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
