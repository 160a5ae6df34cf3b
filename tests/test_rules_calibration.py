"""Calibrated to the person (issue 10, principles 1-3): the bounds hold for any data."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st
from rules_support import MONDAY, Day, Scenario

from rules.calibration import calibrated_cadence
from rules.programme_config import load_programme, params_frame

PROGRAMME = load_programme()


def minutes_frame(cadences: list[int], first: date = MONDAY) -> pd.DataFrame:
    """One-minute intervals with these steps, spread over the baseline week."""
    return pd.DataFrame(
        {
            "patient_id": "p1",
            "steps": np.asarray(cadences, dtype=np.int64),
            "resolution_s": 60,
            "local_date": pd.to_datetime(
                [first + timedelta(days=i % PROGRAMME.baseline_days) for i in range(len(cadences))]
            ),
        }
    )


def threshold(cadences: list[int], fixed: bool = False, **overrides) -> int:
    params = params_frame({"p1": PROGRAMME.with_overrides(overrides)}, {"p1": fixed})
    first = pd.Series([pd.Timestamp(MONDAY)], index=pd.Index(["p1"], name="patient_id"))
    return int(calibrated_cadence(minutes_frame(cadences), params, first)["p1"])


cadences = st.lists(st.integers(0, 250), max_size=600)


@settings(deadline=None)  # a shared, loaded machine
@given(cadences)
def test_calibrated_threshold_stays_within_60_and_100(values):
    """'a documented formula, bounded 60-100 steps/min'; too few walking minutes: the
    programme's default."""
    found = threshold(values)
    walking = sum(v >= PROGRAMME.cadence_walking_floor for v in values)
    if walking < PROGRAMME.cadence_min_minutes:
        assert found == PROGRAMME.cadence_threshold
    else:
        assert PROGRAMME.cadence_min <= found <= PROGRAMME.cadence_max and found % 5 == 0


@settings(deadline=None)
@given(cadences, st.integers(1, 60))
def test_walking_faster_never_lowers_the_threshold(values, faster):
    assert threshold([v + faster for v in values]) >= threshold(values)


@settings(deadline=None)
@given(cadences, st.integers(40, 120))
def test_the_therapists_threshold_always_wins(values, chosen):
    assert threshold(values, fixed=True, cadence_threshold=chosen) == chosen


def test_slow_walkers_are_measured_at_their_own_cadence():
    """A person whose walking minutes sit at 70-80 steps/min gets bouts at 70, not none."""
    slow = Scenario(default=Day(walks=((9, 30),), cadence=75))
    result = slow.run(MONDAY + timedelta(days=12))
    assert int(result.params.at["p1", "cadence_threshold"]) == 75
    assert (result.days["walking_minutes"] >= 30).sum() >= 10
    fixed = Scenario(default=Day(walks=((9, 30),), cadence=75), settings={"cadence_threshold": 100})
    assert fixed.run(MONDAY + timedelta(days=12)).days["walking_minutes"].sum() == 0


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(0, 150), min_size=21, max_size=21), st.integers(0, 30))
def test_ceiling_and_inactivity_limits_follow_the_person(walks, potter):
    """The ceiling is never below 1.5x the planned day or 2x the recent median
    (principle 3); a day counts as inactive only under min(50% of the person's usual
    steps, 5,000) (principle 2)."""
    s = Scenario(default=Day(potter=potter))
    for n, minutes in enumerate(walks):
        s.days[MONDAY + timedelta(days=n)] = Day(
            walks=((9, minutes),) if minutes else (), potter=potter
        )
    days = s.run(MONDAY + timedelta(days=20)).days
    planned = days["planned_steps"].to_numpy()
    ceiling = days["ceiling"].to_numpy()
    known = ~np.isnan(ceiling)
    assert np.all(ceiling[known] >= np.nan_to_num(1.5 * planned[known]) - 1e-6)
    tolerance = np.nan_to_num(2 * days["tolerance"].to_numpy())
    assert np.all(ceiling[known] >= tolerance[known] - 1e-6)
    limit = days["steps_limit"].to_numpy()
    assert np.all(limit <= PROGRAMME.inactive_steps_cap)
    assert (
        not days.loc[days["overdoing"], "steps_counted"]
        .le(days.loc[days["overdoing"], "ceiling"])
        .any()
    )


@settings(deadline=None)
@given(
    st.lists(st.one_of(st.none(), st.integers(0, 20_000)), min_size=1, max_size=120),
    st.integers(1, 30),
    st.integers(0, 10),
    st.integers(1, 6),
)
def test_the_rolling_median_fast_path_equals_the_chunked_one(values, window, minimum, groups):
    """The ceiling's rolling tolerance median (one pandas rolling median) gives exactly
    the chunked trailing median's figures."""
    from rules.programme import _trailing_median_chunked, trailing_median

    n = len(values)
    data = np.array([np.nan if v is None else v for v in values], dtype=float)
    group = np.sort(np.arange(n) % groups)
    w, m = np.full(n, window), np.full(n, minimum)
    fast = trailing_median(data, group, w, m)
    slow = _trailing_median_chunked(data, group, w, m, window, 1 << 18)
    np.testing.assert_allclose(fast, slow, equal_nan=True)
