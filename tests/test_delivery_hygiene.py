"""Quiet hours in the patient's own zone (DST included) and at most one message a day."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from delivery.hygiene import after_quiet_hours, in_quiet_hours, is_urgent, next_patient_slot

ZONES = [
    "Europe/London",
    "America/New_York",
    "Australia/Lord_Howe",  # 30-minute DST shift
    "Pacific/Chatham",  # +12:45 / +13:45
    "Asia/Kolkata",
    "America/Santiago",  # DST change at midnight
    "UTC",
]
instants = st.datetimes(
    min_value=datetime(2025, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
)
clock = st.times().map(lambda t: t.replace(second=0, microsecond=0))


def local(instant: datetime, zone: str) -> time:
    return instant.astimezone(ZoneInfo(zone)).time().replace(tzinfo=None)


@settings(max_examples=400, deadline=None)
@given(instants, st.sampled_from(ZONES), clock, clock)
def test_quiet_hours_end_at_the_first_allowed_local_instant(now, zone, start, end):
    slot = after_quiet_hours(now, ZoneInfo(zone), start, end)
    assert slot >= now
    assert not in_quiet_hours(local(slot, zone), start, end)
    if slot > now:
        # Nothing earlier was allowed: each minute between is inside quiet hours
        # (checked at the ends and a coarse grid between).
        assert in_quiet_hours(local(now, zone), start, end)
        assert slot - now <= timedelta(hours=25)
        step = max((slot - now) / 40, timedelta(minutes=1))
        t = now
        while t < slot - timedelta(minutes=1):
            assert in_quiet_hours(local(t, zone), start, end), t
            t += step


@settings(max_examples=300, deadline=None)
@given(st.lists(instants, min_size=1, max_size=12), st.sampled_from(ZONES))
def test_one_message_a_local_day_and_never_in_quiet_hours(wishes, zone):
    """Messages asked for at random moments: each goes at its first allowed slot;
    no local day gets two and none lands in 21:00-08:00."""
    tz = ZoneInfo(zone)
    sent: list[datetime] = []
    for wish in sorted(wishes):
        slot = next_patient_slot(
            max([wish, *sent]), tz, time(21), time(8), sent[-1] if sent else None
        )
        sent.append(slot)
    days = [s.astimezone(tz).date() for s in sent]
    assert len(days) == len(set(days))
    assert all(not in_quiet_hours(local(s, zone), time(21), time(8)) for s in sent)


def test_dst_spring_forward_night_in_new_york():
    """On 8 March 2026 New York skips 02:00-03:00: quiet hours still end at 08:00 EDT."""
    tz = ZoneInfo("America/New_York")
    now = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)  # 01:30 EST
    slot = after_quiet_hours(now, tz, time(21), time(8))
    assert slot.astimezone(tz).replace(tzinfo=None) == datetime(2026, 3, 8, 8, 0)
    assert slot == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)


def test_same_instant_is_quiet_in_one_zone_and_not_another():
    now = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    london = after_quiet_hours(now, ZoneInfo("Europe/London"), time(21), time(8))
    tokyo = after_quiet_hours(now, ZoneInfo("Asia/Tokyo"), time(21), time(8))
    los_angeles = after_quiet_hours(now, ZoneInfo("America/Los_Angeles"), time(21), time(8))
    assert london == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)  # 22:00 GMT
    assert tokyo == datetime(2026, 11, 23, 23, 0, tzinfo=UTC)  # 07:00 JST, next is 08:00
    assert los_angeles == now  # 14:00 PST


def test_second_message_waits_for_the_next_local_morning():
    tz = ZoneInfo("Europe/London")
    first = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    slot = next_patient_slot(first + timedelta(hours=2), tz, time(21), time(8), first)
    assert slot == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def test_urgent_rules():
    assert is_urgent("flare", "urgent") and is_urgent("no_sync", "warning")
    assert is_urgent("disconnected", "info")
    assert not is_urgent("under_target", "info")
