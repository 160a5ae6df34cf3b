"""Message hygiene (walking-programme.md, "Alert hygiene"): when a patient may hear
from us, and which therapist alerts cannot wait for the weekly digest.

All times are instants in UTC; the patient's own calendar decides "a day" and
"quiet hours", so DST and travel across zones are handled by ``zoneinfo``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Told to the therapist at once; everything else waits for the weekly digest.
URGENT_RULES = frozenset({"flare", "disconnected", "no_sync"})


def is_urgent(rule: str, severity: str) -> bool:
    return rule in URGENT_RULES or severity == "urgent"


def in_quiet_hours(local: time, start: time, end: time) -> bool:
    """Whether a local wall-clock time falls in [start, end); the window may wrap midnight."""
    if start == end:
        return False
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _at(day, clock: time, zone: ZoneInfo) -> datetime:
    """The instant a local wall clock shows ``clock`` on ``day`` (a time skipped by
    DST resolves to just after the gap)."""
    return datetime.combine(day, clock, zone).astimezone(UTC)


def after_quiet_hours(instant: datetime, zone: ZoneInfo, start: time, end: time) -> datetime:
    """``instant`` itself if outside quiet hours, else the end of the quiet window."""
    local = instant.astimezone(zone)
    if not in_quiet_hours(local.time().replace(tzinfo=None), start, end):
        return instant
    for offset in (0, 1, 2):
        candidate = _at(local.date() + timedelta(days=offset), end, zone)
        if candidate >= instant:
            return candidate
    raise AssertionError("a quiet window always ends within two days")


def next_patient_slot(
    now: datetime,
    zone: ZoneInfo,
    start: time,
    end: time,
    last_sent: datetime | None,
) -> datetime:
    """The earliest instant from ``now`` a patient may receive a message: outside quiet
    hours and on a local day that has had no message yet (at most one a day)."""
    slot = now
    if last_sent is not None and last_sent.astimezone(zone).date() >= now.astimezone(zone).date():
        slot = max(slot, _at(last_sent.astimezone(zone).date() + timedelta(days=1), time(0), zone))
    return after_quiet_hours(slot, zone, start, end)
