"""Garmin's JSON to samples, its exceptions to the shared kinds, its token store:
the pure parts, checked on their own and over wide inputs."""

from __future__ import annotations

import inspect
import json
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import garminconnect.exceptions
import pytest
import requests
from hypothesis import given
from hypothesis import strategies as st

from adapters.garmin import credentials_from_token_file
from adapters.garmin.adapter import MAX_DAYS_PER_CALL
from adapters.garmin.errors import translate
from adapters.garmin.parse import daily_totals, day_frame, intervals, primary_device
from adapters.windows import spans
from core.errors import AuthRevoked, BadData, ProviderError, RateLimited, StridewiseError, Transient
from core.source import DateWindow

NOW = datetime(2026, 3, 10, 15, tzinfo=UTC)


@given(
    first=st.dates(min_value=date(2020, 1, 1), max_value=date(2030, 1, 1)),
    days=st.integers(min_value=1, max_value=400),
)
def test_spans_cover_the_window_exactly_in_legal_spans(first, days):
    last = first + timedelta(days=days - 1)
    parts = list(spans(DateWindow(first, last), MAX_DAYS_PER_CALL))
    covered = [p.first + timedelta(days=n) for p in parts for n in range(p.days)]
    assert covered == [first + timedelta(days=n) for n in range(days)]
    assert all(1 <= p.days <= MAX_DAYS_PER_CALL for p in parts)
    assert len(parts) == -(-days // MAX_DAYS_PER_CALL)


def test_null_totals_are_no_data_and_bad_rows_are_skipped():
    rows = [
        {"calendarDate": "2026-03-07", "totalSteps": 5400, "totalDistance": 4000},
        {"calendarDate": "2026-03-08", "totalSteps": None, "totalDistance": None},
        {"calendarDate": "2026-03-09", "totalSteps": -3},
        {"calendarDate": "not a date", "totalSteps": 10},
        {"calendarDate": "2026-02-01", "totalSteps": 10},
        {"calendarDate": "2026-03-10", "totalSteps": 812},
    ]
    totals, skipped = daily_totals(
        rows, "P1", date(2026, 3, 7), date(2026, 3, 10), date(2026, 3, 10), NOW
    )
    assert [(t.local_date.day, t.steps, t.provisional) for t in totals] == [
        (7, 5400, False),
        (10, 812, True),
    ]
    assert len(skipped) == 3 and any("outside" in s for s in skipped)


def test_a_totals_answer_that_is_not_a_list_is_bad_data():
    with pytest.raises(BadData):
        daily_totals({"message": "?"}, "P1", date(2026, 3, 7), date(2026, 3, 7), NOW.date(), NOW)


def summary(local_start: str, gmt_start: str, **extra) -> dict:
    return {
        "wellnessStartTimeLocal": local_start,
        "wellnessStartTimeGmt": gmt_start,
        "includesWellnessData": True,
        **extra,
    }


@given(offset_min=st.integers(min_value=-12 * 60, max_value=14 * 60))
def test_day_offset_is_local_minus_gmt(offset_min):
    day = date(2026, 7, 1)
    local = datetime(2026, 7, 1)
    gmt = local - timedelta(minutes=offset_min)
    frame = day_frame(summary(local.isoformat() + ".0", gmt.isoformat() + ".0"), day)
    assert frame.utc_offset_s == offset_min * 60
    assert frame.start_utc == gmt.replace(tzinfo=UTC)


def test_summary_without_data_privacy_or_start():
    day = date(2026, 7, 1)
    assert day_frame({"includesWellnessData": False}, day) is None
    assert day_frame({}, day) is None
    with pytest.raises(AuthRevoked):
        day_frame({"privacyProtected": True}, day)
    with pytest.raises(BadData):
        day_frame({"includesWellnessData": True}, day)
    with pytest.raises(BadData):
        day_frame(summary("2026-07-02T00:00:00.0", "2026-07-01T04:00:00.0"), day)
    with pytest.raises(BadData):
        day_frame(["not", "a", "summary"], day)


def buckets(start: datetime, steps: list[int | None]) -> list[dict]:
    out = []
    for n, count in enumerate(steps):
        begin = start + timedelta(minutes=15 * n)
        out.append(
            {
                "startGMT": begin.strftime("%Y-%m-%dT%H:%M:%S.0"),
                "endGMT": (begin + timedelta(minutes=15)).strftime("%Y-%m-%dT%H:%M:%S.0"),
                "steps": count or 0,
                "primaryActivityLevel": "none" if count is None else "sedentary",
            }
        )
    return out


def test_ninety_five_none_buckets_are_no_data_not_zero():
    frame = day_frame(summary("2026-07-01T00:00:00.0", "2026-06-30T22:00:00.0"), date(2026, 7, 1))
    found, skipped = intervals(
        buckets(frame.start_utc, [None] * 95), frame, None, "P1", "Forerunner 265"
    )
    assert (found, skipped) == ([], [])


@given(steps=st.lists(st.one_of(st.none(), st.integers(0, 3000)), min_size=1, max_size=96))
def test_buckets_keep_every_count_and_land_on_their_day(steps):
    day = date(2026, 7, 1)
    frame = day_frame(summary("2026-07-01T00:00:00.0", "2026-06-30T22:00:00.0"), day)
    found, skipped = intervals(
        buckets(frame.start_utc, steps), frame, ZoneInfo("Europe/Oslo"), "P1", "Forerunner 265"
    )
    assert skipped == []
    assert [i.steps for i in found] == [s for s in steps if s is not None]
    assert all(i.local_date == day and i.utc_offset_s == 7200 for i in found)


def test_bad_buckets_are_skipped_beside_good_ones():
    day = date(2026, 7, 1)
    frame = day_frame(summary("2026-07-01T00:00:00.0", "2026-06-30T22:00:00.0"), day)
    good = buckets(frame.start_utc, [40, 50])
    bad = [
        {**good[0], "steps": "many"},
        {**good[0], "endGMT": good[0]["startGMT"]},
        {**good[0], "startGMT": "2026-07-05T10:00:00.0", "endGMT": "2026-07-05T10:15:00.0"},
        "not a bucket",
    ]
    found, skipped = intervals(good + bad, frame, None, "P1", "Forerunner 265")
    assert [i.steps for i in found] == [40, 50] and len(skipped) == 4


def test_zone_disagreeing_with_the_summary_loses_to_it():
    """On a travel day the patient's home zone is wrong; the summary's offset wins."""
    day = date(2026, 7, 1)
    frame = day_frame(summary("2026-07-01T00:00:00.0", "2026-06-30T15:00:00.0"), day)  # Tokyo
    found, _ = intervals(
        buckets(frame.start_utc + timedelta(hours=9), [100]),
        frame,
        ZoneInfo("America/New_York"),
        "P1",
        "Forerunner 265",
    )
    assert [(i.utc_offset_s, i.local_date) for i in found] == [(9 * 3600, day)]


def test_primary_device_is_the_step_tracker():
    devices = [
        {"productDisplayName": "Edge 540", "primaryActivityTrackerIndicator": False},
        {"productDisplayName": "vivosmart 5", "primaryActivityTrackerIndicator": True},
    ]
    assert primary_device(devices, "P1").device == "vivosmart 5"
    assert primary_device(devices[:1], "P1").device == "Edge 540"
    assert primary_device([], "P1") is None
    with pytest.raises(BadData):
        primary_device({"devices": []}, "P1")


def chained(outer_message: str, inner: Exception) -> Exception:
    """The shape garminconnect 0.3.2 produces: Garmin.connectapi wraps the client's error."""
    try:
        try:
            raise inner
        except Exception as err:
            raise garminconnect.exceptions.GarminConnectConnectionError(outer_message) from err
    except Exception as outer:
        return outer


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (401, AuthRevoked),
        (403, AuthRevoked),
        (429, RateLimited),
        (500, Transient),
        (502, Transient),
        (503, Transient),
        (408, Transient),
        (400, BadData),
        (404, BadData),
    ],
)
def test_status_in_the_message_decides_the_kind(status, kind):
    inner = garminconnect.exceptions.GarminConnectConnectionError(f"API Error {status} - nope")
    assert type(translate(chained(f"HTTP error: API Error {status} - nope", inner))) is kind


def test_errors_without_a_status():
    not_json = chained(
        "Connection error: Expecting value", requests.JSONDecodeError("Expecting value", "x", 0)
    )
    refused = chained("Connection error: refused", requests.ConnectionError("refused"))
    assert type(translate(not_json)) is BadData
    assert type(translate(refused)) is Transient
    assert type(translate(requests.Timeout("slow"))) is Transient


def test_unusable_stored_tokens_mean_relink():
    missing = chained(
        "Token extraction loads() structurally failed",
        garminconnect.exceptions.GarminConnectAuthenticationError("Missing tokens"),
    )
    assert type(translate(missing)) is AuthRevoked


def test_every_library_error_maps_to_a_shared_kind():
    """Fails when a new garminconnect exception appears unmapped (httpx's habit)."""
    uploads_only = {"GarminConnectInvalidFileFormatError"}
    classes = [
        cls
        for name, cls in inspect.getmembers(garminconnect.exceptions, inspect.isclass)
        if issubclass(cls, Exception) and name not in uploads_only
    ]
    assert len(classes) == 3
    for cls in classes:
        assert isinstance(translate(cls("boom")), ProviderError)


def test_token_file_is_validated_without_echoing_secrets():
    store = {"di_token": "a.b.c", "di_refresh_token": "r-secret", "di_client_id": "GCM"}
    assert credentials_from_token_file(json.dumps({**store, "extra": 1})) == store
    for broken in (
        "not json",
        "[]",
        json.dumps({**store, "di_refresh_token": ""}),
        json.dumps({**store, "di_token": "opaque-secret"}),
        json.dumps({k: v for k, v in store.items() if k != "di_client_id"}),
    ):
        with pytest.raises(StridewiseError) as caught:
            credentials_from_token_file(broken)
        assert "secret" not in str(caught.value) and "\n" not in str(caught.value)
