"""Parsing Google Health JSON, property-based: any offset, any day, any junk."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from email.utils import format_datetime
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.google_health.api import HealthApi, _retry_after
from adapters.google_health.consent import FixedToken
from adapters.google_health.parse import _Bad, _point, _provenance, parse_points, parse_rollups
from sandbox.google_health import GoogleSandboxState, create_app
from sandbox.serve import serve_in_thread
from sandbox.walker import DayShape

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
).map(lambda t: t.replace(second=0, microsecond=0))
offsets = st.integers(min_value=-14 * 3600, max_value=14 * 3600)


def point(start: datetime, offset_s: int, count: object, minutes: int = 1) -> dict:
    end = start + timedelta(minutes=minutes)
    return {
        "dataSource": {"recordingMethod": "PASSIVELY_MEASURED", "platform": "FITBIT"},
        "steps": {
            "interval": {
                "startTime": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "startUtcOffset": f"{offset_s}s",
                "endTime": end.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endUtcOffset": f"{offset_s}s",
            },
            "count": count,
        },
    }


@given(start=instants, offset_s=offsets, steps=st.integers(0, 1_000_000))
def test_the_local_date_comes_from_the_points_own_offset(start, offset_s, steps):
    (interval,), devices, skipped = parse_points([point(start, offset_s, str(steps))], "p1")[:3]
    assert skipped == []
    assert interval.steps == steps and interval.utc_offset_s == offset_s
    assert interval.local_date == (start + timedelta(seconds=offset_s)).date()
    assert interval.start == start and interval.end - interval.start == timedelta(minutes=1)
    assert list(devices) == ["FITBIT"]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=10,
)


@given(junk=st.lists(json_values, max_size=6), start=instants, offset_s=offsets)
def test_junk_beside_good_points_is_skipped_and_the_good_kept(junk, start, offset_s):
    good = point(start, offset_s, "42")
    intervals, _, skipped = parse_points([*junk, good], "p1")
    assert len(intervals) == 1 and intervals[0].steps == 42
    assert len(skipped) == len(junk)


def _one_by_one(points: list, patient_id: str) -> tuple[list, dict, list]:
    """parse_points as it was before its fast path: every point read in full."""
    intervals, devices, skipped = [], {}, []
    for index, raw in enumerate(points):
        try:
            start, end, offset, count = _point(raw)
        except _Bad as err:
            name = raw.get("name") if isinstance(raw, dict) else None
            skipped.append(f"data point {name or f'#{index}'}: {err}")
            continue
        info, method = _provenance(raw, patient_id)
        intervals.append((info.device, start, end, offset, count, method))
        devices.setdefault(info.device, info)
    return intervals, devices, skipped


near_text = st.sampled_from(["Charge 6", "FITBIT", "", "1", "True"]) | json_values
near_source = st.fixed_dictionaries(
    {},
    optional={
        "platform": near_text,
        "recordingMethod": st.sampled_from(["PASSIVELY_MEASURED", "MANUAL"]) | json_values,
        "device": st.fixed_dictionaries(
            {},
            optional={"displayName": near_text, "formFactor": near_text, "manufacturer": near_text},
        )
        | json_values,
    },
)
times = instants.map(lambda t: t.strftime("%Y-%m-%dT%H:%M:%SZ")) | st.sampled_from(
    ["2026-03-01T10:00:00", "2026-03-01T10:00:00+05:30", "nope", ""]
)


@st.composite
def near_points(draw) -> dict:
    """Points most of which are good, some bad in one field: the fast path's edges."""
    start = draw(instants)
    good = point(start, draw(offsets), draw(st.integers(0, 1_000_000).map(str)))
    good["dataSource"] = draw(near_source | st.just(good["dataSource"]))
    interval = good["steps"]["interval"]
    field = draw(st.sampled_from(["none", "startTime", "endTime", "offset", "count"]))
    if field in ("startTime", "endTime"):
        interval[field] = draw(times | json_values)
    elif field == "offset":
        interval["startUtcOffset"] = draw(
            st.sampled_from(["3600s", "-0s", "50400s", "50401s", "3600", "1.5s"]) | json_values
        )
    elif field == "count":
        good["steps"]["count"] = draw(
            st.sampled_from(["-1", "1000001", " 7 ", "1_0", "x", 3.0, True, 12, -3]) | json_values
        )
    return good


@given(points=st.lists(near_points() | json_values, max_size=8))
def test_the_fast_path_reads_every_point_as_the_full_checks_do(points):
    intervals, devices, skipped = parse_points(points, "p1")
    expected = _one_by_one(points, "p1")
    got = [(i.device, i.start, i.end, i.utc_offset_s, i.steps, i.recording_method)
           for i in intervals]  # fmt: skip
    assert got == expected[0]
    assert all(type(a[1]) is type(b[1]) for a, b in zip(got, expected[0], strict=True))
    assert devices == expected[1] and skipped == expected[2]


@given(offset_s=st.integers(14 * 3600 + 1, 10**6) | st.integers(-(10**6), -14 * 3600 - 1))
def test_impossible_offsets_are_refused(offset_s):
    _, _, skipped = parse_points([point(datetime(2026, 3, 1, tzinfo=UTC), offset_s, "1")], "p1")
    assert len(skipped) == 1 and "14 h" in skipped[0]


def test_rollups_need_one_day_windows_and_whole_counts():
    def window(day: date, end: date, count: object) -> dict:
        civil = lambda d: {"date": {"year": d.year, "month": d.month, "day": d.day}, "time": {}}  # noqa: E731
        return {
            "civilStartTime": civil(day),
            "civilEndTime": civil(end),
            "steps": {"countSum": count},
        }

    day = date(2026, 3, 8)
    totals, skipped = parse_rollups(
        [
            window(day, day + timedelta(days=1), "8813"),
            window(day, day + timedelta(days=2), "10"),
            window(day, day + timedelta(days=1), "-1"),
            {"civilStartTime": {"date": {"year": 2026, "month": 2, "day": 30}}},
        ],
        "p1",
        today=day,
        fetched_at=datetime(2026, 3, 8, tzinfo=UTC),
    )
    assert [(t.local_date, t.steps, t.provisional) for t in totals] == [(day, 8813, True)]
    assert len(skipped) == 3 and "not one day" in skipped[0] and "negative" in skipped[1]


@pytest.fixture(scope="module")
def sandbox():
    state = GoogleSandboxState(seed=21)
    state.add_user("walker")
    with serve_in_thread(create_app(state)) as base, httpx.Client(timeout=10) as http:
        api = HealthApi(http, base, FixedToken(state.issue_tokens("walker")["access_token"]))
        yield state, api


DST_ZONES = ["America/New_York", "Europe/Berlin", "Australia/Sydney", "America/Santiago"]
ZONES = [*DST_ZONES, "Asia/Kolkata", "Asia/Kathmandu", "Pacific/Chatham", "Pacific/Kiritimati"]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    day=st.dates(min_value=date(2025, 1, 1), max_value=date(2026, 10, 31)),
    home=st.sampled_from(ZONES),
    away=st.sampled_from(ZONES),
)
def test_any_zone_and_day_lands_whole_on_its_civil_date(sandbox, day, home, away):
    """Whatever the zones on either side (DST, half-hour offsets, +14 h), every minute
    the API returns for a civil day lands on that day, and they add up to its roll-up."""
    state, api = sandbox
    user = state.users["walker"]
    user.time_zone, user.travel = home, {day: away}
    user.shapes = {day: DayShape(wear_hours=(0, 24))}
    pages = list(api.step_pages(day, day + timedelta(days=1), 10000))
    intervals, _, skipped = parse_points([p for page in pages for p in page["dataPoints"]], "p1")
    assert skipped == []
    assert {i.local_date for i in intervals} <= {day}
    assert sum(i.steps for i in intervals) == (state.rollup_total("walker", day) or 0)
    zone = ZoneInfo(away)
    for interval in intervals:
        assert interval.utc_offset_s == interval.start.astimezone(zone).utcoffset().total_seconds()
    day_length = datetime.combine(
        day + timedelta(days=1), datetime.min.time(), zone
    ) - datetime.combine(day, datetime.min.time(), zone)
    assert len(intervals) <= day_length.total_seconds() // 60


def test_retry_after_accepts_seconds_and_http_dates():
    assert _retry_after("120") == 120.0
    assert _retry_after(None) is None and _retry_after("soon") is None
    assert _retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # already past
    later = format_datetime(datetime.now(UTC) + timedelta(minutes=10), usegmt=True)
    assert 590 < _retry_after(later) <= 600
