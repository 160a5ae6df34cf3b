"""The sync window and the back-off maths: pure functions, checked over wide inputs."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ingest.sync.backoff import BackoffPolicy, backoff_seconds, next_poll, next_retry
from ingest.sync.window import WindowPolicy, earliest_unsettled, local_today, sync_window

ZONES = ["Europe/Oslo", "America/New_York", "Pacific/Kiritimati", "Pacific/Pago_Pago",
         "Australia/Lord_Howe", "Asia/Kathmandu", "UTC", None]  # fmt: skip

instants = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2035, 12, 31), timezones=st.just(UTC)
)
policies = st.builds(
    WindowPolicy,
    backfill_days=st.integers(1, 120),
    lookback_days=st.integers(0, 14),
    settle_hours=st.floats(0, 96),
    provider_limit_days=st.none() | st.integers(1, 365),
)


@given(now=instants, zone=st.sampled_from(ZONES), policy=policies)
def test_first_sync_backfills_up_to_today_within_the_provider_limit(now, zone, policy):
    window = sync_window(now, zone, None, None, policy)
    # An unknown zone is UTC, as everywhere else (core.clock).
    today = now.astimezone(ZoneInfo(zone or "UTC")).date()
    assert window.last == today
    assert window.days == min(policy.backfill_days, policy.provider_limit_days or 10**6)


@given(
    now=instants,
    zone=st.sampled_from(ZONES),
    policy=policies,
    behind=st.integers(-2, 400),
    provisional_back=st.none() | st.integers(0, 400),
)
def test_later_syncs_cover_the_gap_lookback_and_unsettled_days(
    now, zone, policy, behind, provisional_back
):
    today = local_today(now, zone)
    cursor = today - timedelta(days=behind)
    provisional = None if provisional_back is None else today - timedelta(days=provisional_back)
    window = sync_window(now, zone, cursor, provisional, policy)

    assert window.last == today
    floor = (
        today - timedelta(days=policy.provider_limit_days - 1)
        if policy.provider_limit_days
        else date.min
    )
    must_cover = [
        cursor + timedelta(days=1),  # no gap left since the last committed day
        today - timedelta(days=policy.lookback_days),
        earliest_unsettled(now, zone, policy.settle_hours),
    ]
    if provisional is not None:
        must_cover.append(max(provisional, today - timedelta(days=policy.backfill_days - 1)))
    for day in must_cover:
        assert window.first <= max(min(day, today), floor)
    # and nothing older than needed
    assert window.first == max(min([*must_cover, today]), floor)


def test_today_follows_the_patients_zone_across_dst_and_the_date_line():
    # 2026-03-08 06:30 UTC: 01:30 EST in New York (the DST day), already the 9th in Kiritimati.
    now = datetime(2026, 3, 8, 6, 30, tzinfo=UTC)
    assert local_today(now, "America/New_York") == date(2026, 3, 8)
    assert local_today(now, "Pacific/Kiritimati") == date(2026, 3, 8)
    assert local_today(now, "Pacific/Pago_Pago") == date(2026, 3, 7)
    late = datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
    assert local_today(late, "Pacific/Kiritimati") == date(2026, 3, 9)
    # Unknown zone: UTC, the one rule everywhere (core.clock).
    assert local_today(late, None) == date(2026, 3, 8)
    assert local_today(datetime(2026, 3, 8, 23, 59, tzinfo=UTC), None) == date(2026, 3, 8)


def test_a_day_settles_only_after_the_settle_time_past_its_end():
    zone = "Europe/Oslo"  # UTC+1 in March
    policy = WindowPolicy(backfill_days=30, lookback_days=0, settle_hours=48)
    # The 5th ends at 23:00 UTC on the 5th; 48 h later is 23:00 UTC on the 7th.
    just_before = datetime(2026, 3, 7, 22, 59, tzinfo=UTC)
    just_after = datetime(2026, 3, 7, 23, 1, tzinfo=UTC)
    cursor = date(2026, 3, 8)
    assert sync_window(just_before, zone, cursor, None, policy).first == date(2026, 3, 5)
    assert sync_window(just_after, zone, cursor, None, policy).first == date(2026, 3, 6)


def test_since_overrides_the_start_but_not_the_provider_limit():
    now = datetime(2026, 3, 8, 12, tzinfo=UTC)
    policy = WindowPolicy(provider_limit_days=10)
    assert sync_window(
        now, "UTC", date(2026, 3, 7), None, policy, since=date(2026, 3, 1)
    ).first == (date(2026, 3, 1))
    assert sync_window(now, "UTC", None, None, policy, since=date(2025, 1, 1)).first == date(
        2026, 2, 27
    )


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        sync_window(datetime(2026, 3, 8), "UTC", None, None, WindowPolicy())


@given(failures=st.integers(1, 200), seed=st.integers(0, 2**32))
def test_backoff_doubles_from_the_base_up_to_the_cap_with_jitter(failures, seed):
    policy = BackoffPolicy(base_s=30, max_s=3600, jitter_s=10)
    step = min(3600, 30 * 2 ** (failures - 1))
    delay = backoff_seconds(failures, policy, random.Random(seed))
    assert step / 2 <= delay <= step


def test_backoff_spreads_retries():
    policy = BackoffPolicy(base_s=60, max_s=3600)
    delays = {round(backoff_seconds(3, policy, random.Random(s)), 3) for s in range(50)}
    assert len(delays) > 40


@given(retry_after=st.floats(0, 10_000), seed=st.integers(0, 2**32))
def test_retry_after_is_honoured_up_to_the_cap(retry_after, seed):
    policy = BackoffPolicy(base_s=60, max_s=3600, jitter_s=5)
    now = datetime(2026, 3, 8, tzinfo=UTC)
    delay = (next_retry(now, 7, policy, random.Random(seed), retry_after) - now).total_seconds()
    assert min(retry_after, 3600) <= delay + 1e-6
    assert delay <= min(retry_after + 5, 3600) + 1e-6


def test_polls_are_jittered_after_the_interval():
    policy = BackoffPolicy(interval_s=900, jitter_s=60)
    now = datetime(2026, 3, 8, tzinfo=UTC)
    due = [(next_poll(now, policy, random.Random(s)) - now).total_seconds() for s in range(100)]
    assert all(900 <= d <= 960 for d in due)
    assert max(due) - min(due) > 30
