"""The walking-bout detector: the spec's bout rule, and the 15-minute estimate."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.bouts import detect_bouts, estimate_coarse_bouts

THRESHOLD = 100


def bouts_of(steps: list[int], gaps: list[int] = ()) -> np.ndarray:
    new_block = np.zeros(len(steps), dtype=bool)
    new_block[list(gaps)] = True
    return detect_bouts(new_block, np.asarray(steps) >= THRESHOLD)


def spans(bout: np.ndarray) -> list[tuple[int, int]]:
    out = []
    for b in sorted(set(bout[bout >= 0])):
        where = np.flatnonzero(bout == b)
        out.append((int(where[0]), int(where[-1])))
    return sorted(out)


def test_ten_minutes_at_cadence_is_a_bout_nine_is_not():
    """'Walking bout: at least 10 minutes at or above the cadence threshold.'"""
    assert spans(bouts_of([0] * 3 + [110] * 10 + [0] * 3)) == [(3, 12)]
    assert spans(bouts_of([0] * 3 + [110] * 9 + [0] * 3)) == []
    assert spans(bouts_of([100] * 10)) == [(0, 9)]  # "at or above"
    assert spans(bouts_of([99] * 30)) == []


def test_up_to_twenty_percent_below_is_allowed_inside_a_bout():
    """'...allowing up to 20% of minutes below it and no run of 5+ minutes below.'"""
    walk = [110] * 8 + [40] * 2 + [110] * 8 + [40] * 2 + [110] * 8  # 4 of 28 below
    assert spans(bouts_of(walk)) == [(0, 27)]


def test_a_run_of_five_below_splits_the_bout():
    """'...no run of 5+ minutes below.'"""
    walk = [110] * 20 + [40] * 5 + [110] * 20
    assert spans(bouts_of(walk)) == [(0, 19), (25, 44)]
    four = [110] * 20 + [40] * 4 + [110] * 20
    assert spans(bouts_of(four)) == [(0, 43)]


def test_too_many_short_dips_are_split_until_the_rule_holds():
    """'...allowing up to 20% of minutes below it': a stretch breaking the allowance is
    split, and the steady part of it still counts."""
    walk = [110] * 30 + [0, 0, 0, 0, 110] * 5
    bout = bouts_of(walk)
    assert spans(bout) == [(0, 29)]


def test_a_gap_in_the_data_ends_a_bout():
    """Minutes are in a row only when they follow each other in real time."""
    assert spans(bouts_of([110] * 20, gaps=[12])) == [(0, 11)]


def test_per_patient_threshold_rows():
    """'the threshold is a per-patient setting (default 100, therapist may lower to 80)'."""
    steps = np.array([85] * 15 + [85] * 15)
    new_block = np.zeros(30, dtype=bool)
    new_block[15] = True  # second half is another patient
    active = steps >= np.r_[[100] * 15, [80] * 15]
    assert spans(detect_bouts(new_block, active)) == [(15, 29)]


def test_garmin_quarter_hours_estimate_walking_minutes():
    """15-minute data: a bucket holds steps / threshold walking minutes (capped at 15);
    buckets holding half a minimum bout chain; a chain of 10+ estimated minutes is a bout."""
    steps = np.array([450, 1100, 300, 1650, 1650, 800, 200, 900])
    new_block = np.zeros(len(steps), dtype=bool)
    minutes, chain = estimate_coarse_bouts(new_block, steps, np.full(8, 15.0), 100.0, 10)
    # pottering (450) never counts; a 10-minute walk in one bucket does (11 min);
    # 1650+1650+800 chain into one 38-minute bout; 900 alone (9 min) is not a bout.
    assert minutes.tolist() == [0, 11, 0, 15, 15, 8, 0, 0]
    assert len(set(chain[chain >= 0])) == 2
    assert chain[3] == chain[4] == chain[5] != chain[1]


minute_steps = st.lists(st.integers(0, 200), min_size=0, max_size=300)


@settings(max_examples=200, deadline=None)
@given(minute_steps)
def test_every_bout_obeys_the_rule(steps):
    """A bout is 10+ minutes, at most 20% below threshold, never 5 below in a row."""
    bout = bouts_of(steps)
    active = np.asarray(steps, dtype=int) >= THRESHOLD
    for first, last in spans(bout):
        inside = active[first : last + 1]
        assert len(inside) >= 10
        assert (~inside).sum() <= 0.2 * len(inside)
        run = 0
        for minute in inside:
            run = 0 if minute else run + 1
            assert run < 5
        assert inside[0] and inside[-1]


@settings(max_examples=200, deadline=None)
@given(minute_steps)
def test_ten_straight_minutes_at_cadence_are_always_inside_a_bout(steps):
    """Walking minutes = minutes inside bouts: a plain 10-minute walk is never missed."""
    bout = bouts_of(steps)
    active = np.asarray(steps, dtype=int) >= THRESHOLD
    for start in range(0, max(0, len(steps) - 9)):
        if active[start : start + 10].all():
            assert (bout[start : start + 10] >= 0).all()


@settings(max_examples=150, deadline=None)
@given(minute_steps, st.sets(st.integers(1, 299), max_size=6))
def test_a_bout_never_spans_a_gap_in_the_data(steps, cuts):
    """A minute missing from the data ends a bout: no bout holds two blocks."""
    gaps = sorted(c for c in cuts if c < len(steps))
    block = np.zeros(len(steps), dtype=int)
    for cut in gaps:
        block[cut:] += 1
    for first, last in spans(bouts_of(steps, gaps=gaps)):
        assert block[first] == block[last]


@settings(max_examples=100, deadline=None)
@given(minute_steps, st.integers(0, 50))
def test_shifting_the_series_in_time_changes_nothing(steps, shift):
    """Bouts depend on which minutes follow which, not on the clock."""
    padded = [0] * shift + steps
    before = spans(bouts_of(steps))
    after = [(a - shift, b - shift) for a, b in spans(bouts_of(padded))]
    assert after == before
