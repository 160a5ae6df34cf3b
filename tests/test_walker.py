"""The synthetic walker behind the sandboxes and the demo."""

from __future__ import annotations

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sandbox.walker import DayShape, Walker


@settings(max_examples=80, deadline=None)
@given(
    person=st.text(min_size=1, max_size=8),
    day=st.dates(min_value=date(2024, 1, 1), max_value=date(2028, 12, 31)),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "UTC"]),
    start=st.integers(0, 22),
    length=st.integers(1, 16),
    scale=st.floats(0, 3),
)
def test_minutes_are_reproducible_and_inside_the_local_day(person, day, zone, start, length, scale):
    """Property: the same inputs give the same minutes; every minute is on the local day
    at the zone's offset for that instant, in order, without repeats, never negative;
    even a one-hour wear window works."""
    shape = DayShape(walk_scale=scale, wear_hours=(start, min(24, start + length)))
    minutes = Walker(seed=3).day(person, day, zone, shape)
    assert minutes == Walker(seed=3).day(person, day, zone, shape)
    tz = ZoneInfo(zone)
    starts = [m.start_utc for m in minutes]
    assert starts == sorted(set(starts))
    for m in minutes:
        local = m.start_utc.astimezone(tz)
        assert local.date() == day
        assert m.utc_offset_s == int(local.utcoffset().total_seconds())
        assert m.steps >= 0


def test_unworn_day_has_no_minutes_and_walks_scale():
    walker, day = Walker(seed=1), date(2026, 3, 14)
    assert walker.day("p", day, "UTC", DayShape(worn=False)) == []
    busy = [
        sum(m.steps for m in walker.day("p", day + timedelta(d), "UTC", DayShape(walk_scale=2)))
        for d in range(14)
    ]
    calm = [
        sum(m.steps for m in walker.day("p", day + timedelta(d), "UTC", DayShape(walk_scale=0)))
        for d in range(14)
    ]
    assert sum(busy) > sum(calm)
