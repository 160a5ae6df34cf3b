"""The alert table of the spec, rule by rule, on small scenarios (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from rules_support import MONDAY, Day, Scenario, message, rules_found

WALKER = Day(walks=((9, 30),))  # a daily 30-minute walk: never inactive
QUIET = Day(potter=3)  # valid (worn all day) but ~900 steps


def progressing(**kwargs) -> Scenario:
    """Baseline of daily 15-minute walks (start 5 x 12 min, goal at level 10), then a
    daily 30-minute walk: on plan, never overdoing, never inactive."""
    s = Scenario(default=WALKER, **kwargs)
    for n in range(7):
        s.days[d(n)] = Day(walks=((9, 15),))
    return s


def d(n: int) -> date:
    """Day n of the scenario (0 = first day, a Monday; programme week 0 starts at 7)."""
    return MONDAY + timedelta(days=n)


def iso(n: int) -> str:
    return d(n).isoformat()


# --- overdoing and boom-bust -------------------------------------------------------


def test_overdoing_day_over_the_ceiling():
    """overdoing: 'a day above 1.5x the planned walking day's steps, or above 2x the
    7-day median of valid days' -> patient, same day: pace it."""
    s = Scenario(days={d(10): Day(walks=((9, 120),)), d(11): Day(walks=((9, 25),))})
    found = rules_found(s.run(d(12)), "overdoing")
    assert found == {("overdoing", f"week of {iso(7)}", "patient")}


def test_overdoing_today_says_so_far():
    """'Partial current day: ... same-day messages say "so far".'"""
    s = Scenario(days={d(10): Day(walks=((9, 120),))})
    result = s.run(d(10))
    assert "so far today" in message(result, "overdoing")
    # words rendered from facts: the next day the same alert is in the past tense
    later = message(result, "overdoing", as_of=d(11))
    assert "so far" not in later and f"on {iso(10)}" in later


def test_boom_bust_needs_two_settled_quiet_days():
    """boom-bust: 'an overdoing day then 2+ valid days under 50% of the median' ->
    patient + therapist; and 'never judge a provisional day as failed'."""
    s = Scenario(days={d(10): Day(walks=((9, 120),)), d(11): QUIET, d(12): QUIET})
    assert rules_found(s.run(d(14)), "boom_bust") == {
        ("boom_bust", iso(10), "patient"),
        ("boom_bust", iso(10), "therapist"),
    }
    assert rules_found(s.run(d(12)), "boom_bust") == set()  # day 12 is today
    s.days[d(12)] = Day()
    assert rules_found(s.run(d(14)), "boom_bust") == set()


# --- under target and the mid-week nudge --------------------------------------------


def test_under_target_two_weeks_running_tells_the_therapist():
    """under target: 'walks done <= planned - 2 for two weeks running' -> therapist."""
    s = Scenario()  # pottering only: no walks at all
    # one episode, named by the run's first week, however long the run grows
    for today in (d(22), d(29)):
        assert ("under_target", f"from week of {iso(7)}", "therapist") in rules_found(s.run(today))
    assert not any(a == "therapist" for _, _, a in rules_found(s.run(d(20)), "under_target"))


def test_under_target_one_good_week_breaks_the_run():
    """'...for two weeks running': a week on plan in between resets it."""
    s = Scenario()
    s.week(1, {0: ((9, 15),), 2: ((9, 15),), 4: ((9, 15),), 6: ((9, 15),)})
    assert not any(a == "therapist" for _, _, a in rules_found(s.run(d(22)), "under_target"))


def test_exempt_day_pauses_under_target():
    """'Days a patient marks as exempt ... pause the under-target and inactivity rules.'"""
    s = Scenario(exempt=[d(16)])
    assert not any(a == "therapist" for _, _, a in rules_found(s.run(d(22)), "under_target"))


def test_mid_week_nudge_when_under_40_percent_by_day_4():
    """under target: 'mid-week nudge when under 40% is done by day 4' -> patient."""
    s = progressing()
    for n in range(21, 25):
        s.days[d(n)] = Day()  # week 2 (5 x 15 min planned): nothing by day 4
    assert ("under_target", f"week of {iso(21)}", "patient") in rules_found(s.run(d(25)))
    s.days[d(21)] = s.days[d(22)] = Day(walks=((9, 15),))  # 2 of 5 = 40%
    assert rules_found(s.run(d(25)), "under_target") == set()


# --- inactivity -----------------------------------------------------------------------


def test_inactive_streak_three_days_patient_seven_therapist():
    """inactive streak: '3 valid days in a row with no walking bout; 7 days' -> patient;
    therapist at 7."""
    s = Scenario(default=WALKER)
    for n in range(10, 13):
        s.days[d(n)] = Day()
    assert rules_found(s.run(d(14)), "inactive_streak") == {
        ("inactive_streak", f"from {iso(10)}", "patient")
    }
    for n in range(13, 17):
        s.days[d(n)] = Day()
    assert rules_found(s.run(d(18)), "inactive_streak") == {
        ("inactive_streak", f"from {iso(10)}", "patient"),
        ("inactive_streak", f"from {iso(10)}", "therapist"),
    }


@pytest.mark.parametrize(
    "middle",
    [Day(worn=False), Day(hours=(8, 12)), "exempt", "daily total", "today"],
    ids=["missing", "low wear", "exempt", "daily total only", "provisional"],
)
def test_days_that_are_never_inactive(middle):
    """'Missing and low-wear days are never "inactive" days'; exempt days pause the rule;
    bout rules do not apply to daily totals; today is never judged as failed."""
    s = Scenario(default=WALKER)
    s.days[d(10)] = s.days[d(11)] = s.days[d(12)] = Day()
    today = d(14)
    if middle == "exempt":
        s.exempt.append(d(11))
    elif middle == "daily total":
        s.days[d(11)] = Day(worn=False)
        s.totals.append(("p1", "garmin", d(11), 5000, False))
    elif middle == "today":
        today = d(12)
    else:
        s.days[d(11)] = middle
    assert rules_found(s.run(today), "inactive_streak") == set()


# --- sync state -------------------------------------------------------------------------

NOW = datetime(2026, 3, 20, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("hours", "active", "expected"),
    [
        (47, True, set()),
        (50, True, {"patient"}),
        (121, True, {"patient", "therapist"}),
        (200, False, set()),
    ],
)
def test_no_sync_after_48_hours_and_5_days(hours, active, expected):
    """no sync: 'no new data for 48 h; 5 days' -> patient; therapist at 5 days."""
    last = NOW - timedelta(hours=hours)
    s = Scenario(default=WALKER, sync=(NOW, active, last, last.date().isoformat(), False, ""))
    found = rules_found(s.run(d(18)), "no_sync")
    assert {a for _, _, a in found} == expected
    assert all(p == f"since {last.date()}" for _, p, _ in found)


def test_disconnected_tells_patient_and_therapist():
    """disconnected: 'the provider refused our tokens (revoked, expired refresh)' ->
    patient (relink link) + therapist."""
    s = Scenario(default=WALKER, sync=(NOW, False, NOW, NOW.date().isoformat(), True, iso(17)))
    assert rules_found(s.run(d(18)), "disconnected") == {
        ("disconnected", f"since {iso(17)}", "patient"),
        ("disconnected", f"since {iso(17)}", "therapist"),
    }


# --- completeness -----------------------------------------------------------------------


@pytest.mark.parametrize(("missing", "expected"), [(14, 0), (15, 1)])
def test_low_completeness_under_16_of_30_days(missing, expected):
    """low completeness: 'under 16 days with data in the last 30' -> therapist."""
    today = d(39)
    s = Scenario(default=WALKER)
    for n in range(39 - missing, 39):
        s.days[d(n)] = Day(worn=False)
    found = s.run(today).findings.query("rule == 'low_completeness'")
    assert len(found) == expected
    if expected:
        assert "15 of the last 30 days" in message(s.run(today), "low_completeness", "therapist")
        assert found["audience"].item() == "therapist"


# --- pain, holds and step-backs ------------------------------------------------------


def levels(result) -> list[int]:
    return result.plan.sort_values("week")["level"].tolist()


def test_no_pain_data_never_holds_the_programme():
    """Missing pain data: the programme progresses a level a week."""
    assert levels(progressing().run(d(7 + 7 * 4))) == [0, 1, 2, 3, 4]


def test_pain_six_is_a_flare_and_holds_the_level():
    """flare: 'a reported pain score of 6+ ... hold this week's level' -> therapist
    (+ patient advice)."""
    s = progressing(pain=[(datetime(2026, 3, 18, 19), 6)])
    result = s.run(d(7 + 7 * 4))
    assert rules_found(result, "flare") == {
        ("flare", "2026-03-18", "therapist"),
        ("flare", "2026-03-18", "patient"),
    }
    assert levels(result) == [0, 1, 1, 2, 3]
    assert result.plan.sort_values("week")["phase"].tolist()[2] == "hold"


def test_a_rise_over_usual_and_worse_next_morning_are_flares():
    """'2+ points above the patient's usual' and 'worse pain the next morning'."""
    usual = [(datetime(2026, 3, 2 + k, 9), 1) for k in range(3)]
    rise = Scenario(default=WALKER, pain=[*usual, (datetime(2026, 3, 10, 9), 3)])
    assert {p for _, p, _ in rules_found(rise.run(d(20)), "flare")} == {"2026-03-10"}
    small = Scenario(default=WALKER, pain=[*usual, (datetime(2026, 3, 10, 9), 2)])
    assert rules_found(small.run(d(20)), "flare") == set()
    morning = Scenario(
        default=WALKER,
        pain=[(datetime(2026, 3, 10, 20), 3), (datetime(2026, 3, 11, 8), 5)],
    )
    assert {p for _, p, _ in rules_found(morning.run(d(20)), "flare")} == {"2026-03-11"}


def test_two_flare_days_in_a_row_step_back_one_level():
    """'two flare days in a row ...: step back one level'; 'Progress resumes from the
    last comfortable level, never from scratch.'"""
    s = progressing(pain=[(datetime(2026, 3, 24, 19), 7), (datetime(2026, 3, 25, 19), 6)])
    assert levels(s.run(d(7 + 7 * 6))) == [0, 1, 2, 1, 2, 3, 4]


def test_flare_and_overdoing_in_one_week_step_back():
    """'a week with flares and an overdoing day: step back one level'."""
    s = progressing(pain=[(datetime(2026, 3, 24, 19), 7)])
    s.days[d(22)] = Day(walks=((9, 180),))
    assert levels(s.run(d(7 + 7 * 4))) == [0, 1, 2, 1, 2]


def test_therapist_sets_the_level_by_hand():
    """'therapist overrides (a patient's current level can be set by hand)'."""
    s = progressing(overrides=[(d(21), 6)])
    result = s.run(d(7 + 7 * 4))
    assert levels(result) == [0, 1, 6, 7, 8]
    assert result.plan.sort_values("week")["phase"].tolist()[2] == "therapist"


# --- the programme ------------------------------------------------------------------------


def test_baseline_sets_the_first_prescription():
    """'walks per week start at the baseline's walking days + 1 (at least 3) ... minutes
    per walk start at 80% of baseline bout length (at least 10)'."""
    s = Scenario(default=Day())
    for n in (0, 2, 4, 5):
        s.days[d(n)] = Day(walks=((9, 25),))
    base = s.run(d(10)).baseline.loc["p1"]
    assert base["usable"] and base["start_walks"] == 5 and base["start_minutes"] == 20


def test_without_a_usable_baseline_start_at_10_minutes_3_times():
    """'needs at least 4 valid days, one of them a weekend day ... Without a usable
    baseline: start at 10 minutes x 3 walks a week.'"""
    s = Scenario(default=Day(walks=((9, 40),) * 1))
    s.days[d(5)] = s.days[d(6)] = Day(worn=False)  # no weekend day
    base = s.run(d(10)).baseline.loc["p1"]
    assert not base["usable"]
    assert (base["start_walks"], base["start_minutes"]) == (3, 10)


def test_goal_is_reached_by_week_26_even_with_a_slow_rate():
    """'The goal (30 min x 5) is reached ... no later than week 26 unless holds pushed it
    back.'"""
    s = Scenario(default=WALKER, settings={"weekly_increase": 0.01})
    plan = s.run(d(7 + 7 * 27)).plan.sort_values("week")
    first_goal = plan.loc[plan["goal_reached"], "week"].min()
    assert first_goal <= 25  # week index 25 is week 26
    assert plan["minutes_planned"].is_monotonic_increasing


# --- maintenance and implausible data -------------------------------------------------------


def maintenance_scenario(drift: bool) -> Scenario:
    s = Scenario(default=Day(walks=((9, 35),)))
    for n in range(7, 7 + 7 * 7):
        week_day = (n - 7) % 7
        keeps_up = not drift or n < 7 + 7 * 3
        if keeps_up:
            s.days[d(n)] = Day(walks=((9, 32),)) if week_day in (0, 1, 3, 4, 6) else Day()
        else:
            s.days[d(n)] = Day(walks=((9, 15),)) if week_day in (0, 2, 4, 6) else Day()
    return s


def test_maintenance_when_walking_slips_after_the_goal():
    """maintenance: 'a 4-week average below 80% of the goal level, or under 150 min/week
    for 4 weeks' -> patient + therapist."""
    found = rules_found(maintenance_scenario(drift=True).run(d(7 + 7 * 6 + 2)), "maintenance")
    assert {p for _, p, _ in found} == {f"week of {iso(7 + 7 * 4)}", f"week of {iso(7 + 7 * 5)}"}
    assert {a for _, _, a in found} == {"patient", "therapist"}
    kept = maintenance_scenario(drift=False).run(d(7 + 7 * 6 + 2))
    assert rules_found(kept, "maintenance") == set()
    assert rules_found(kept, "under_target") == set()


def test_implausible_data_goes_to_the_therapist_and_out_of_targets():
    """implausible data: 'a minute above 250 steps, or a day above 60,000 steps' ->
    therapist (data queue); 'leave it out of targets'."""
    s = Scenario(default=WALKER)
    s.days[d(10)] = Day(walks=((9, 240),), cadence=260)
    result = s.run(d(12))
    assert rules_found(result, "implausible_data") == {("implausible_data", iso(10), "therapist")}
    assert rules_found(result, "overdoing") == set()
    days = result.days.set_index("local_date")
    assert days.loc[pd.Timestamp(d(10)), "steps_counted"] < 5000
