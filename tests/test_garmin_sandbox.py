"""The Garmin sandbox itself honours the documented shapes and quirks, so the
adapter tests that lean on it test something real."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import httpx
import pytest

from sandbox.garmin import create_app
from sandbox.garmin_state import GarminSandbox, GarminUser
from sandbox.serve import serve_in_thread
from sandbox.walker import DayShape, Walker

NOW = datetime(2025, 10, 28, 12, 0, tzinfo=UTC)  # two days after Europe's fall-back
STATS = "/usersummary-service/stats/steps/daily"


@pytest.fixture(scope="module")
def garmin():
    sandbox = GarminSandbox(walker=Walker(seed=3), clock=lambda: NOW)
    user = sandbox.add_user(
        GarminUser("w@example.org", "pw", "dn-1", tz="Europe/London", wear_hours=(0, 23))
    )
    user.not_worn = {date(2025, 10, 20)}
    with serve_in_thread(create_app(sandbox)) as base_url:
        token = sandbox.issue_tokens("dn-1")["di_token"]
        client = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"})
        yield sandbox, user, client
        client.close()


def test_stats_allow_at_most_28_days(garmin):
    _, _, client = garmin
    assert len(client.get(f"{STATS}/2025-09-01/2025-09-28").json()) == 28
    assert client.get(f"{STATS}/2025-09-01/2025-09-29").status_code == 400


def test_a_day_not_worn_is_null_and_95_none_buckets(garmin):
    _, _, client = garmin
    (row,) = client.get(f"{STATS}/2025-10-20/2025-10-20").json()
    assert row["totalSteps"] is None and row["totalDistance"] is None
    chart = client.get("/wellness-service/wellness/dailySummaryChart/dn-1?date=2025-10-20").json()
    assert len(chart) == 95 and {b["primaryActivityLevel"] for b in chart} == {"none"}
    summary = client.get("/usersummary-service/usersummary/daily/dn-1?calendarDate=2025-10-20")
    assert summary.json()["includesWellnessData"] is False


def test_fall_back_day_has_100_buckets_adding_up_to_the_total(garmin):
    _, _, client = garmin
    chart = client.get("/wellness-service/wellness/dailySummaryChart/dn-1?date=2025-10-26").json()
    (row,) = client.get(f"{STATS}/2025-10-26/2025-10-26").json()
    assert len(chart) == 100
    assert chart[0]["startGMT"] == "2025-10-25T23:00:00.0"  # BST midnight, no Z
    assert sum(b["steps"] for b in chart) == row["totalSteps"]


def test_today_stops_at_the_last_upload(garmin):
    sandbox, user, client = garmin
    chart = client.get("/wellness-service/wellness/dailySummaryChart/dn-1?date=2025-10-28").json()
    summary = client.get(
        "/usersummary-service/usersummary/daily/dn-1?calendarDate=2025-10-28"
    ).json()
    assert chart[-1]["endGMT"] == "2025-10-28T11:30:00.0"  # 20 minutes ago, whole buckets
    assert summary["lastSyncTimestampGMT"] == "2025-10-28T11:30:00.0"
    assert (
        sum(b["steps"] for b in chart) == summary["totalSteps"] == sandbox.total(user, NOW.date())
    )


def test_old_intraday_is_archived_but_the_total_stays(garmin):
    _, _, client = garmin
    old = (NOW.date() - timedelta(days=120)).isoformat()
    chart = client.get(f"/wellness-service/wellness/dailySummaryChart/dn-1?date={old}").json()
    (row,) = client.get(f"{STATS}/{old}/{old}").json()
    assert len(chart) == 95 and row["totalSteps"] > 0


def test_steps_are_the_shared_walkers(garmin):
    sandbox, user, _ = garmin
    day = date(2025, 10, 22)
    minutes = Walker(seed=3).day("dn-1", day, "Europe/London", DayShape(wear_hours=(0, 23)))
    assert sandbox.total(user, day) == sum(m.steps for m in minutes)


def test_tokens_and_display_names_are_checked(garmin):
    _, _, client = garmin
    assert httpx.get(f"{client.base_url}{STATS}/2025-10-01/2025-10-02").status_code == 401
    other = client.get(
        "/usersummary-service/usersummary/daily/someone-else?calendarDate=2025-10-01"
    )
    assert other.status_code == 403
