"""The day view and the never-add-up merge."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from core.schema import DailyTotal, StepBatch, StepInterval, local_date_of
from ingest.dayview import (
    INTERVAL_COLUMNS,
    combine_days,
    load,
    merge_sources,
    source_rank,
)
from ingest.db import transaction
from ingest.store import write_batch

T0 = datetime(2026, 3, 8, 6, 0, tzinfo=UTC)
PRIORITY = ["garmin/*", "google-health/*", "csv/*"]


def frame(rows: list[tuple]) -> pd.DataFrame:
    """Rows of (patient, provider, device, start minute, length minutes, steps)."""
    records = []
    for patient, provider, device, start, length, steps in rows:
        begin = T0 + timedelta(minutes=start)
        records.append(
            (
                patient,
                provider,
                device,
                begin,
                begin + timedelta(minutes=length),
                0,
                begin.date(),
                steps,
                length * 60,
                None,
            )
        )
    out = pd.DataFrame(records, columns=INTERVAL_COLUMNS)
    out["start_utc"] = pd.to_datetime(out["start_utc"], utc=True)
    out["end_utc"] = pd.to_datetime(out["end_utc"], utc=True)
    out["local_date"] = pd.to_datetime(out["local_date"])
    return out


def test_preferred_source_wins_and_overlaps_are_dropped_whole():
    rows = [("P", "google-health", "Charge 6", m, 1, 100) for m in range(30)]
    rows += [("P", "garmin", "Venu", 20, 15, 900), ("P", "google-health", "Charge 6", 40, 1, 7)]
    merged = merge_sources(frame(rows), default=PRIORITY)
    kept = merged.groupby("provider")["steps"].sum().to_dict()
    # Garmin's bucket 20-35 wins; Google minutes 20..29 overlap it and go; 0..19 and 40 stay.
    assert kept == {"garmin": 900, "google-health": 20 * 100 + 7}


def test_patient_priority_overrides_default():
    rows = [
        ("A", "google-health", "Pixel", 0, 15, 50),
        ("A", "garmin", "Venu", 0, 15, 999),
        ("B", "google-health", "Pixel", 0, 15, 50),
        ("B", "garmin", "Venu", 0, 15, 999),
    ]
    merged = merge_sources(frame(rows), {"A": ["google-health/*"]}, PRIORITY)
    assert dict(zip(merged["patient_id"], merged["provider"], strict=True)) == {
        "A": "google-health",
        "B": "garmin",
    }


def test_two_devices_of_one_provider_are_not_added_up():
    rows = [("P", "google-health", "Pixel Watch", m, 1, 90) for m in range(10)]
    rows += [("P", "google-health", "Pixel 9 phone", m, 1, 80) for m in range(10)]
    merged = merge_sources(frame(rows), {"P": ["*/*Watch*", "*/*"]}, PRIORITY)
    assert set(merged["device"]) == {"Pixel Watch"}
    assert merged["steps"].sum() == 900


def test_day_uses_daily_total_only_where_no_intervals_and_says_so():
    merged = merge_sources(frame([("P", "garmin", "Venu", 0, 15, 400)]), default=PRIORITY)
    totals = pd.DataFrame(
        {
            "patient_id": ["P", "P", "P"],
            "provider": ["garmin", "garmin", "google-health"],
            "local_date": pd.to_datetime(["2026-03-08", "2026-03-07", "2026-03-07"]),
            "steps": [9000, 5000, 6100],
            "provisional": [True, False, False],
        }
    )
    days = combine_days(merged, totals, default=PRIORITY).set_index("local_date")
    assert days.loc["2026-03-08", "steps"] == 400
    assert days.loc["2026-03-08", "basis"] == "intervals"
    assert days.loc["2026-03-08", "source"] == "garmin/Venu"
    assert bool(days.loc["2026-03-08", "provisional"]) is True
    # Both providers reported a total for the 7th: the preferred one is used, not the sum.
    assert days.loc["2026-03-07", "steps"] == 5000
    assert days.loc["2026-03-07", "source"] == "garmin (daily total)"
    assert days.loc["2026-03-07", "basis"] == "daily_total"


interval_rows = st.lists(
    st.tuples(
        st.sampled_from(["P", "Q"]),
        st.sampled_from(
            [
                ("garmin", "Venu"),
                ("google-health", "Charge 6"),
                ("google-health", "Pixel"),
                ("csv", "phone"),
            ]
        ),
        st.integers(0, 600),
        st.sampled_from([1, 1, 1, 15]),
        st.integers(0, 250),
    ),
    max_size=60,
)


def _flatten(rows):
    return [(p, prov, dev, start, length, steps) for p, (prov, dev), start, length, steps in rows]


@settings(max_examples=150, deadline=None)
@given(interval_rows)
def test_merge_never_adds_sources_up(rows):
    """Property: kept intervals of different sources never overlap; every dropped interval
    overlaps a kept one of a more preferred source; the top source of each patient loses
    nothing that does not overlap itself."""
    data = frame(_flatten(rows))
    merged = merge_sources(data, default=PRIORITY)
    assert merged["steps"].sum() <= data["steps"].sum()
    for patient, mine in merged.groupby("patient_id"):
        spans = list(
            zip(
                mine["start_utc"],
                mine["end_utc"],
                mine["provider"] + "/" + mine["device"],
                strict=True,
            )
        )
        for s1, e1, src1 in spans:
            for s2, e2, src2 in spans:
                assert src1 == src2 or s2 >= e1 or s1 >= e2, f"{patient}: {src1}, {src2} overlap"
    key = ["patient_id", "provider", "device", "start_utc", "end_utc", "steps"]
    dropped = data.merge(merged[key].drop_duplicates(), on=key, how="left", indicator=True)
    dropped = dropped[dropped["_merge"] == "left_only"]
    for row in dropped.itertuples():
        kept = merged[
            (merged.patient_id == row.patient_id)
            & (merged.start_utc < row.end_utc)
            & (merged.end_utc > row.start_utc)
        ]
        better = kept[(kept.provider != row.provider) | (kept.device != row.device)]
        assert not better.empty
    for patient, mine in data.groupby("patient_id"):
        top = min(
            zip(mine["provider"], mine["device"], strict=True),
            key=lambda src: (source_rank(*src, PRIORITY), src),
        )
        top_rows = mine[(mine.provider == top[0]) & (mine.device == top[1])]
        assert len(
            merged[
                (merged.patient_id == patient)
                & (merged.provider == top[0])
                & (merged.device == top[1])
            ]
        ) == len(top_rows)


@settings(max_examples=300, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 12, 31), timezones=st.just(UTC)
    ),
    st.sampled_from(
        [
            "America/New_York",
            "Europe/London",
            "Australia/Lord_Howe",
            "Pacific/Kiritimati",
            "Pacific/Pago_Pago",
            "Asia/Kathmandu",
            "America/St_Johns",
            "Europe/Berlin",
            "UTC",
        ]
    ),
)
def test_local_date_follows_the_samples_own_offset(instant, zone_name):
    """Property: the local date is the wall-clock date at the sample's own offset, in any
    zone, across DST changes (including half-hour DST at Lord Howe)."""
    wall = instant.astimezone(ZoneInfo(zone_name))
    offset = int(wall.utcoffset().total_seconds())
    assert local_date_of(instant, offset) == wall.date()


def test_day_steps_from_the_database_across_a_dst_night(factory, patient):
    """New York springs forward on 2026-03-08: minutes before and after 02:00 local land on
    the 8th, minutes after local midnight at the new offset land on the 9th."""
    zone = ZoneInfo("America/New_York")
    starts = [
        datetime(2026, 3, 8, 1, 59, tzinfo=zone),
        datetime(2026, 3, 8, 3, 0, tzinfo=zone),
        datetime(2026, 3, 8, 23, 59, tzinfo=zone),
        datetime(2026, 3, 9, 0, 0, tzinfo=zone),
    ]
    rows = [
        StepInterval(
            patient,
            "csv",
            "phone",
            s,
            s + timedelta(minutes=1),
            int(s.utcoffset().total_seconds()),
            10 * (i + 1),
        )
        for i, s in enumerate(starts)
    ]
    totals = [DailyTotal(patient, "garmin", date(2026, 3, 5), 4321)]
    with transaction(factory) as session:
        write_batch(session, StepBatch(rows, totals))
    with factory() as session:
        days = load(session, default_priority=PRIORITY).days
        merged = load(
            session, [patient], date(2026, 3, 9), date(2026, 3, 9), default_priority=PRIORITY
        ).merged
    got = {
        d.date(): (s, b) for d, s, b in zip(days.local_date, days.steps, days.basis, strict=True)
    }
    assert got == {
        date(2026, 3, 5): (4321, "daily_total"),
        date(2026, 3, 8): (60, "intervals"),
        date(2026, 3, 9): (40, "intervals"),
    }
    assert list(merged["steps"]) == [40]
