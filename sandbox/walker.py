"""A small synthetic walker: reproducible minute-level steps for one person-day.

Used by the sandbox provider servers and the demo so a patient's data looks
alike whichever provider serves it. Same (seed, person, date, zone) gives the
same minutes, byte for byte.

Model: the device is worn from morning to evening (a few non-wear gaps);
while worn, most minutes hold a little pottering about (0-30 steps) and some
hold walks of 10-40 minutes at 95-120 steps/min, more on weekends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class Minute:
    start_utc: datetime
    utc_offset_s: int
    steps: int


@dataclass(frozen=True, slots=True)
class DayShape:
    """How one day differs from the person's usual: the knobs demo stories turn."""

    walk_scale: float = 1.0  # multiplies walk count and length
    worn: bool = True
    wear_hours: tuple[int, int] = (7, 22)  # local hours the device is on the wrist


def local_minutes(local_day: date, zone: ZoneInfo) -> list[tuple[datetime, int]]:
    """Every minute of the local day as (UTC start, UTC offset s): 1380 or 1500 on DST days."""
    start = datetime.combine(local_day, datetime.min.time(), zone).astimezone(UTC)
    end = datetime.combine(local_day + timedelta(days=1), datetime.min.time(), zone).astimezone(UTC)
    out = []
    t = start
    while t < end:
        offset = t.astimezone(zone).utcoffset()
        out.append((t, int(offset.total_seconds())))
        t += timedelta(minutes=1)
    return out


class Walker:
    def __init__(self, seed: int = 7) -> None:
        self.seed = seed

    def day(
        self, person: str, local_day: date, tz: str, shape: DayShape = DayShape()
    ) -> list[Minute]:
        """The minutes the device was worn on ``local_day`` in zone ``tz`` (zeros included)."""
        if not shape.worn:
            return []
        rng = random.Random(f"{self.seed}:{person}:{local_day.isoformat()}")
        zone = ZoneInfo(tz)
        minutes = local_minutes(local_day, zone)
        on, off = shape.wear_hours
        on_min = on * 60 + rng.randint(-30, 30)
        off_min = max(off * 60 + rng.randint(-60, 60), on_min + 1)  # narrow wear windows too
        gap_start = rng.randint(on_min, off_min) if rng.random() < 0.3 else -1
        gap_len = rng.randint(20, 90)

        weekend = local_day.weekday() >= 5
        walks = round((rng.choice((0, 1, 1, 2)) + (1 if weekend else 0)) * shape.walk_scale)
        walk_minutes: dict[int, int] = {}
        for _ in range(walks):
            length = max(1, round(rng.randint(10, 40) * min(shape.walk_scale, 2.0)))
            begin = rng.randint(on_min, max(on_min, off_min - length))
            cadence = rng.randint(95, 120)
            for m in range(begin, begin + length):
                walk_minutes[m] = max(0, cadence + rng.randint(-6, 6))

        out = []
        for index, (start, offset) in enumerate(minutes):
            wall = index + (offset - minutes[0][1]) // 60  # minutes since local midnight
            if not on_min <= wall < off_min or gap_start <= wall < gap_start + gap_len:
                continue
            steps = walk_minutes.get(wall)
            if steps is None:
                steps = rng.choice((0, 0, 0, 0, 3, 8, 15, 30))
            out.append(Minute(start, offset, steps))
        return out
