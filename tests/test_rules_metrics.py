"""Day metrics: day status, wear, bouts per day and the spec's edge cases
(partial today, DST, travel, two sources, daily totals only, implausible data)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_support import PRIORITY, Day, interval_frame, minute_rows, row, totals_frame

from ingest.dayview import combine_days, merge_sources
from rules.metrics import calendar_frame, day_metrics, interval_day_metrics
from rules.programme_config import load_programme, params_frame
from sandbox.walker import local_minutes

PARAMS = params_frame({"p1": load_programme()})


def metrics(rows, totals=(), first=None, today=None, synced="today") -> pd.DataFrame:
    merged = merge_sources(interval_frame(list(rows)), {}, PRIORITY)
    days = combine_days(merged, totals_frame(list(totals)), {}, PRIORITY)
    first = first or days["local_date"].min().date()
    today = today or days["local_date"].max().date() + timedelta(days=3)
    calendar = calendar_frame(["p1"], [first], [today], [today if synced == "today" else synced])
    return day_metrics(days, interval_day_metrics(merged, PARAMS), PARAMS, calendar).set_index(
        "local_date"
    )


def on(table: pd.DataFrame, day: date) -> pd.Series:
    return table.loc[pd.Timestamp(day)]


def full_day(day: date, zone: str, steps_at=lambda i: 5, provider="csv") -> list[tuple]:
    tz = ZoneInfo(zone)
    return [
        row("p1", provider, "watch", start, 60, steps_at(i), tz)
        for i, (start, _) in enumerate(local_minutes(day, tz))
        if steps_at(i)
    ]


def test_valid_low_wear_and_missing_days():
    """'A day is valid when it has at least 10 hours each containing at least one step
    ... A day with some data but below that is low wear; a day with nothing synced is
    missing.'"""
    d = date(2026, 3, 2)
    rows = minute_rows("p1", d, "UTC", Day(hours=(8, 18))) + minute_rows(
        "p1", d + timedelta(days=1), "UTC", Day(hours=(8, 17))
    )
    table = metrics(rows, first=d, today=d + timedelta(days=5))
    assert on(table, d)["wear_hours"] == 10 and on(table, d)["status"] == "valid"
    assert on(table, d + timedelta(days=1))["status"] == "low_wear"
    assert on(table, d + timedelta(days=2))["status"] == "missing"
    assert on(table, d + timedelta(days=2))["steps"] == 0


def test_partial_today_is_provisional_and_unsynced_days_wait_48_hours():
    """'Partial current day: never judge today as failed' and a day is provisional until
    'the local day has ended and a later sync has covered it, or 48 hours passed'."""
    d = date(2026, 3, 2)
    rows = [r for k in range(4) for r in minute_rows("p1", d + timedelta(days=k), "UTC", Day())]
    last_sync = d + timedelta(days=1)  # synced during day 1: day 0 covered, not day 1-3
    table = metrics(rows, first=d, today=d + timedelta(days=3), synced=last_sync)
    assert [on(table, d + timedelta(days=k))["status"] for k in range(4)] == [
        "valid",
        "provisional",
        "provisional",
        "provisional",
    ]
    later = metrics(rows, first=d, today=d + timedelta(days=4), synced=last_sync)
    assert on(later, d + timedelta(days=1))["status"] == "valid"  # 48 hours have passed


def test_walking_minutes_and_longest_bout_per_day():
    """'Walking minutes = minutes inside bouts'; longest bout per day."""
    d = date(2026, 3, 2)
    rows = minute_rows("p1", d, "Europe/London", Day(walks=((9, 25), (15, 12), (18, 8))))
    day = on(metrics(rows), d)
    assert (day["walking_minutes"], day["bouts"], day["longest_bout"]) == (37, 2, 25)


def test_dst_days_have_23_and_25_hours_and_lose_no_minutes():
    """'Time zones and DST: days are the patient's local calendar days ... a DST day has
    23 or 25 hours.'"""
    spring, autumn = date(2026, 3, 29), date(2026, 10, 25)
    rows = full_day(spring, "Europe/London") + full_day(autumn, "Europe/London")
    table = metrics(rows, first=spring, today=autumn + timedelta(days=3))
    assert on(table, spring)["steps"] == 5 * 23 * 60
    assert on(table, spring)["wear_hours"] == 23
    assert on(table, autumn)["steps"] == 5 * 25 * 60
    assert on(table, autumn)["wear_hours"] == 25


def test_a_walk_across_the_dst_switch_is_one_bout_of_real_minutes():
    """Bouts are measured in real minutes on the patient's local day, DST or not."""
    day = date(2026, 10, 25)  # clocks go back at 02:00 BST -> 01:00 GMT
    walking = set(range(60 - 10, 60 + 20))  # 00:50 to 01:20 UTC, across the switch
    rows = full_day(day, "Europe/London", lambda i: 110 if i in walking else 5)
    assert on(metrics(rows), day)["longest_bout"] == 30


def test_travel_across_zones_neither_duplicates_nor_drops_a_day():
    """'travel must neither duplicate nor drop a day': each sample keeps its own offset."""
    london, new_york = ZoneInfo("Europe/London"), ZoneInfo("America/New_York")
    start = datetime(2026, 5, 4, 6, 0, tzinfo=UTC)
    rows = []
    for m in range(4 * 24 * 60):  # four days of minutes, flying west at noon of day 2
        t = start + timedelta(minutes=m)
        zone = london if t < datetime(2026, 5, 5, 12, tzinfo=UTC) else new_york
        rows.append(row("p1", "csv", "watch", t, 60, 7, zone))
    table = metrics(rows, first=date(2026, 5, 4), today=date(2026, 5, 9))
    with_data = table[table["steps"] > 0]
    assert list(with_data.index.date) == [date(2026, 5, d) for d in range(4, 9)]
    assert with_data["steps"].sum() == 7 * 4 * 24 * 60
    assert on(table, date(2026, 5, 5))["steps"] == 7 * (24 + 5) * 60  # the long day


def test_two_sources_on_one_day_are_never_added_up():
    """'Several devices or sources the same day: never add them up ... say which source a
    day's figure came from.'"""
    d = date(2026, 3, 2)
    watch = minute_rows("p1", d, "UTC", Day(walks=((9, 30),)), provider="google-health")
    phone = minute_rows("p1", d, "UTC", Day(walks=((9, 30),), potter=20), provider="csv")
    alone = on(metrics(watch), d)
    both = on(metrics(watch + phone), d)
    assert both["steps"] == alone["steps"]
    assert both["source"] == "google-health/watch"
    assert both["walking_minutes"] == 30


def test_daily_totals_without_intraday_get_steps_but_no_bouts():
    """'Daily total without minute data: steps rules apply, bout rules do not'; valid at
    1,500 steps or more."""
    d = date(2026, 3, 2)
    totals = [
        ("p1", "garmin", d, 1500, False),
        ("p1", "garmin", d + timedelta(days=1), 1499, False),
    ]
    table = metrics([], totals, first=d, today=d + timedelta(days=4))
    assert on(table, d)["status"] == "valid" and not on(table, d)["has_intraday"]
    assert on(table, d)["walking_minutes"] == 0 and on(table, d)["steps"] == 1500
    assert on(table, d + timedelta(days=1))["status"] == "low_wear"


def test_implausible_minutes_are_kept_flagged_and_left_out():
    """'a minute above 250 steps, or a day above 60,000 steps, is implausible: keep it,
    flag it, and leave it out of targets.'"""
    d = date(2026, 3, 2)
    rows = minute_rows("p1", d, "UTC", Day(walks=((9, 20),), cadence=300))
    day = on(metrics(rows), d)
    assert day["implausible"] and day["implausible_minutes"] == 20
    assert day["steps"] - day["steps_counted"] == 20 * 300
    assert day["walking_minutes"] == 0
    big = full_day(d, "UTC", lambda i: 45)  # 64,800 steps at a believable cadence
    assert on(metrics(big), d)["implausible_day"]


@settings(max_examples=40, deadline=None)
@given(
    st.lists(st.integers(0, 140), min_size=1, max_size=240),
    st.lists(st.booleans(), min_size=240, max_size=240),
    st.integers(0, 23 * 60),
)
def test_splitting_a_series_across_sources_never_creates_steps(steps, sides, shift):
    """'never add them up': however a series is split between two sources, or shifted in
    the day, the day's steps are the series' steps."""
    d = date(2026, 3, 2)
    start = datetime(2026, 3, 2, tzinfo=UTC) + timedelta(minutes=min(shift, 24 * 60 - len(steps)))
    rows = [
        row("p1", "garmin" if sides[i] else "csv", "w", start + timedelta(minutes=i), 60, s, UTC)
        for i, s in enumerate(steps)
        if s
    ]
    copy = [
        row("p1", "csv", "phone", start + timedelta(minutes=i), 60, s, UTC)
        for i, s in enumerate(steps)
        if s
    ]
    if not rows:
        return
    table = metrics(rows + copy, first=d, today=d + timedelta(days=3))
    assert on(table, d)["steps"] == sum(steps)


def test_garmin_quarter_hours_get_estimated_bouts():
    """'Where the source's resolution is 15 minutes (Garmin), define and document how
    bouts are estimated': steps / threshold walking minutes per bucket, chained."""
    d = date(2026, 3, 2)
    start = datetime(2026, 3, 2, 7, tzinfo=UTC)
    buckets = [300] * 20 + [1650, 1650] + [300] * 20 + [1100] + [300] * 10
    rows = [
        row("p1", "garmin", "fr255", start + timedelta(minutes=15 * i), 900, s, UTC)
        for i, s in enumerate(buckets)
    ]
    day = on(metrics(rows), d)
    assert (day["walking_minutes"], day["bouts"], day["longest_bout"]) == (41, 2, 30)
    assert day["status"] == "valid" and day["steps"] == sum(buckets)
