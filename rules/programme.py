"""The walking programme: baseline, weekly prescription, ceiling, holds and step-backs.

Levels: level 0 is the starting prescription; each level adds one walk a week (up to
the goal's walks) and ``weekly_increase`` to the minutes per walk (up to the goal's
minutes). The weekly rate is raised when needed so the goal falls no later than week
``goal_by_week``. A week's level is last week's plus one, held after a flare or a
week without a valid day, one lower after two flare days in a row or a week with
flares and an overdoing day, and never below 0: progress resumes from the last
comfortable level, never from scratch. A therapist's override sets a week's level by
hand and the programme continues from there. Once the goal level is reached the
patient is in maintenance and stays at the goal.

Programme weeks count from the day after the baseline (``baseline_days`` from the
first day of the table: the programme's start date, or ``baseline_days`` before it
when the history before the start covers the baseline). The daily ceiling is the
larger of ``ceiling_planned_day_factor`` x the planned walking day's steps and
``ceiling_median_factor`` x the median of the valid days in the last
``tolerance_window_days`` (principle 3: it follows recent tolerance). All functions
are pure: frames in, frames out; the week loop runs once per programme week,
vectorised over patients.
"""

from __future__ import annotations

from itertools import pairwise

import numpy as np
import pandas as pd

from rules.arrays import per_day
from rules.metrics import day_lookup

PLAN_COLUMNS = [
    "patient_id",
    "week",
    "week_start",
    "level",
    "walks_planned",
    "minutes_planned",
    "phase",
    "goal_reached",
]


def trailing_median(
    values: np.ndarray,
    group: np.ndarray,
    window: np.ndarray,
    min_count: np.ndarray,
    chunk: int = 1 << 18,
) -> np.ndarray:
    """Median of the previous ``window`` rows' non-NaN values within each contiguous
    group (computed in chunks of rows to bound memory; one pandas rolling median when
    every row has the same window and minimum)."""
    width = int(np.max(window)) if len(window) else 0
    out = np.full(len(values), np.nan)
    if width == 0:
        return out
    if (window == width).all() and (min_count == min_count[0]).all():
        if min_count[0] > width:
            return out
        # Each group padded in front with ``width`` NaNs, so no window crosses a group.
        ordinal = np.cumsum(np.r_[True, group[1:] != group[:-1]])
        at = np.arange(len(values)) + width * ordinal
        padded = np.full(len(values) + width * int(ordinal[-1]), np.nan)
        padded[at] = values
        rolling = pd.Series(padded).rolling(width, min_periods=max(int(min_count[0]), 1))
        return rolling.median().to_numpy()[at - 1]
    return _trailing_median_chunked(values, group, window, min_count, width, chunk)


def _trailing_median_chunked(values, group, window, min_count, width, chunk) -> np.ndarray:
    out = np.full(len(values), np.nan)
    lags = np.arange(1, width + 1)
    for lo in range(0, len(values), chunk):
        hi = min(lo + chunk, len(values))
        source = np.arange(lo, hi)[:, None] - lags[None, :]
        usable = (source >= 0) & (lags[None, :] <= window[lo:hi, None])
        source = np.maximum(source, 0)
        usable &= group[source] == group[lo:hi, None]
        seen = np.where(usable, values[source], np.nan)
        count = (~np.isnan(seen)).sum(axis=1)
        seen.sort(axis=1)
        rows = np.arange(hi - lo)
        low = seen[rows, np.maximum((count - 1) // 2, 0)]
        high = seen[rows, np.maximum(count // 2, 0)]
        out[lo:hi] = np.where(count >= min_count[lo:hi], (low + high) / 2, np.nan)
    return out


def baseline(table: pd.DataFrame, params: pd.DataFrame, first_date: pd.Series) -> pd.DataFrame:
    """Per patient: whether the first week is usable, and the starting prescription."""
    param_row = table["param_row"].to_numpy()
    starts = first_date.reindex(params.index).to_numpy("datetime64[ns]")[param_row]
    day_no = (table["local_date"].to_numpy("datetime64[ns]") - starts) // np.timedelta64(1, "D")
    days = params["baseline_days"].to_numpy()[param_row]
    week = table[day_no < days]
    valid = week[(week["status"] == "valid") & ~week["implausible_day"]]
    grouped = valid.groupby("patient_id")
    out = pd.DataFrame(index=params.index)
    out["valid_days"] = grouped.size().reindex(out.index).fillna(0).astype(int)
    weekend = valid[valid["local_date"].dt.day_of_week >= 5].groupby("patient_id").size()
    out["weekend_days"] = weekend.reindex(out.index).fillna(0).astype(int)
    settled = week.groupby("patient_id")["settled"].all()
    complete = (
        week.groupby("patient_id").size().reindex(params.index).fillna(0) >= params["baseline_days"]
    )
    out["usable"] = (
        (out["valid_days"] >= params["baseline_min_valid_days"])
        & (out["weekend_days"] >= 1)
        & settled.reindex(out.index).fillna(False).astype(bool)
        & complete.reindex(out.index).fillna(False).astype(bool)
    )
    out["steps"] = grouped["steps_counted"].mean().reindex(out.index)
    out["walking_minutes"] = grouped["walking_minutes"].mean().reindex(out.index)
    intraday = valid[valid["has_intraday"]].groupby("patient_id")
    walked = valid.loc[valid["has_intraday"], ["patient_id"]].assign(
        walked=valid.loc[valid["has_intraday"], "bouts"] > 0
    )
    out["walking_days"] = walked.groupby("patient_id")["walked"].sum().reindex(out.index)
    bout_minutes = intraday["walking_minutes"].sum().reindex(out.index)
    bout_count = intraday["bouts"].sum().reindex(out.index)
    out["bout_length"] = (bout_minutes / bout_count.replace(0, np.nan)).astype(float)
    p = params
    walks = (out["walking_days"].fillna(0) + 1).clip(
        p["min_walks_per_week"], p["goal_walks_per_week"]
    )
    minutes = (
        (p["start_fraction_of_bout"] * out["bout_length"].fillna(0))
        .clip(p["min_minutes_per_walk"], p["goal_minutes_per_walk"])
        .round()
    )
    out["start_walks"] = walks.where(out["usable"], p["fallback_walks_per_week"]).astype(int)
    out["start_minutes"] = minutes.where(out["usable"], p["fallback_minutes_per_walk"]).astype(int)
    weeks_to_goal = np.maximum(p["goal_by_week"] - 1, 1)
    needed = (p["goal_minutes_per_walk"] / out["start_minutes"]) ** (1 / weeks_to_goal) - 1
    out["rate"] = np.maximum(p["weekly_increase"], needed)
    by_minutes = np.ceil(
        np.log(p["goal_minutes_per_walk"] / out["start_minutes"]) / np.log1p(out["rate"]) - 1e-9
    )
    out["goal_level"] = np.maximum(
        p["goal_walks_per_week"] - out["start_walks"], np.maximum(by_minutes, 0)
    ).astype(int)
    out.loc[~out["usable"], ["steps", "walking_minutes"]] = np.nan
    return out


def run_programme(
    table: pd.DataFrame,
    params: pd.DataFrame,
    first_date: pd.Series,
    flare_days: pd.DataFrame,
    overrides: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Walk the weeks: returns (day table with ceiling/overdoing, plan per week, baseline).

    ``table`` is ``rules.metrics.day_metrics`` output (each patient's days together,
    in date order);
    ``flare_days`` has (patient_id, local_date, consecutive); ``overrides`` has
    (patient_id, week_start, level).
    """
    table = table.reset_index(drop=True)
    base = baseline(table, params, first_date)
    param_row = table["param_row"].to_numpy()
    group = param_row

    def per(name: str) -> np.ndarray:
        return per_day(params, table, name)

    judged = (table["status"] == "valid") & ~table["implausible_day"]
    # Today (or any unsettled day) can already be over the ceiling "so far".
    may_overdo = (judged | ~table["settled"]).to_numpy() & ~table["implausible_day"].to_numpy()
    judged_arr = judged.to_numpy()
    counted = table["steps_counted"].to_numpy(float)
    median = trailing_median(
        np.where(judged, counted, np.nan),
        group,
        per("median_window_days").astype(int),
        per("median_min_valid_days"),
    )
    starts = first_date.reindex(params.index).to_numpy("datetime64[ns]")[param_row]
    day_no = (table["local_date"].to_numpy("datetime64[ns]") - starts) // np.timedelta64(1, "D")
    week = np.floor_divide(day_no - per("baseline_days"), 7)
    table["week"] = week
    table["median7"] = median
    # Principle 3: the ceiling follows recent tolerance, the median of the valid days in
    # the last ``tolerance_window_days`` (rolling), not only the first week.
    tolerance = trailing_median(
        np.where(judged, counted, np.nan),
        group,
        per("tolerance_window_days").astype(int),
        per("median_min_valid_days"),
    )
    table["tolerance"] = tolerance
    median_ceiling = per("ceiling_median_factor") * tolerance

    flare_row = day_lookup(table, flare_days, params)
    is_flare = flare_row >= 0
    consecutive = np.r_[flare_days["consecutive"].to_numpy(bool), False]
    in_a_row = consecutive[flare_row]  # -1 picks the False sentinel
    table["flare"] = is_flare
    ceiling = median_ceiling.copy()
    planned_steps = np.full(len(table), np.nan)
    overdoing = np.zeros(len(table), dtype=bool)
    b = base.reindex(params.index)
    start_walks, start_minutes = b["start_walks"].to_numpy(), b["start_minutes"].to_numpy()
    rate, goal_level = b["rate"].to_numpy(), b["goal_level"].to_numpy()
    goal_walks = params["goal_walks_per_week"].to_numpy()
    goal_minutes = params["goal_minutes_per_walk"].to_numpy()
    base_steps = b["steps"].to_numpy()[param_row]
    cadence = per("cadence_threshold")
    day_factor = per("ceiling_planned_day_factor")
    dates = table["local_date"].to_numpy("datetime64[D]")
    forced = {
        (code, np.datetime64(start, "D")): int(value)
        for code, start, value in zip(
            params.index.get_indexer(overrides["patient_id"]),
            overrides["week_start"],
            overrides["level"],
            strict=True,
        )
    }
    # Per patient (row of ``params``): level, goal reached, how the level was set.
    level = np.zeros(len(params), dtype=np.int64)
    reached = np.zeros(len(params), dtype=bool)
    how = np.full(len(params), "start", dtype=object)
    plan_rows = []
    by_week = np.argsort(week, kind="stable")
    bounds = np.searchsorted(week[by_week], np.arange(-1, int(week.max(initial=-1)) + 2))
    for k, (lo, hi) in enumerate(pairwise(bounds), start=-1):
        rows = by_week[lo:hi]
        if len(rows) == 0:
            continue
        codes = param_row[rows]
        first = np.r_[True, codes[1:] != codes[:-1]]
        here, sizes = codes[first], np.diff(np.r_[np.flatnonzero(first), len(rows)])
        if k >= 0:
            week_start = dates[rows][first]
            for i, code in enumerate(here):
                value = forced.get((code, week_start[i]))
                if value is not None:
                    level[code], how[code] = max(0, value), "therapist"
            walks = np.minimum(goal_walks[here], start_walks[here] + level[here])
            minutes = np.minimum(
                goal_minutes[here], np.round(start_minutes[here] * (1 + rate[here]) ** level[here])
            ).astype(int)
            planned_steps[rows] = base_steps[rows] + np.repeat(minutes, sizes) * cadence[rows]
            reached[here] |= level[here] >= goal_level[here]
        ceiling[rows] = np.fmax(day_factor[rows] * planned_steps[rows], median_ceiling[rows])
        overdoing[rows] = may_overdo[rows] & (counted[rows] > ceiling[rows])
        if k < 0:
            continue
        starts_at = np.flatnonzero(first)
        flares = np.add.reduceat(is_flare[rows].astype(int), starts_at)
        overs = np.add.reduceat(overdoing[rows].astype(int), starts_at)
        in_rows = np.add.reduceat(in_a_row[rows].astype(int), starts_at)
        valid = np.add.reduceat(judged_arr[rows].astype(int), starts_at)
        step_back = (in_rows > 0) | ((flares > 0) & (overs > 0))
        # A week without one valid day shows nothing to progress from: hold.
        hold = ((flares > 0) | (valid == 0)) & ~step_back
        plan_rows.append(
            pd.DataFrame(
                {
                    "patient_id": params.index.to_numpy()[here],
                    "week": k,
                    "week_start": week_start.astype("datetime64[ns]"),
                    "level": level[here],
                    "walks_planned": walks.astype(int),
                    "minutes_planned": minutes,
                    "phase": np.where(reached[here], "maintenance", how[here]),
                    "goal_reached": reached[here],
                }
            )
        )
        how[here] = np.where(step_back, "step_back", np.where(hold, "hold", "progress"))
        level[here] = np.clip(
            level[here] + np.where(step_back, -1, np.where(hold, 0, 1)), 0, goal_level[here]
        )
    # Principle 2: a day is "little movement" only below this many steps for this person.
    reference = np.where(np.isnan(base_steps), tolerance, base_steps)
    table["steps_limit"] = np.fmin(
        per("inactive_steps_fraction") * reference, per("inactive_steps_cap")
    )
    table["planned_steps"] = planned_steps
    table["ceiling"] = ceiling
    table["overdoing"] = overdoing
    plan = (
        pd.concat(plan_rows, ignore_index=True) if plan_rows else pd.DataFrame(columns=PLAN_COLUMNS)
    )
    return table, plan, base


def week_summary(days: pd.DataFrame, plan: pd.DataFrame) -> pd.DataFrame:
    """The plan week by week with what was done: walks reaching the planned length
    (one a day at most), walking minutes, and days with data."""
    if plan.empty:
        return plan.assign(walks_done=[], walking_minutes=[], valid_days=[], days=[])
    joined = days[days["week"] >= 0].merge(
        plan[["patient_id", "week", "minutes_planned"]], on=["patient_id", "week"]
    )
    joined["walk_done"] = joined["has_intraday"] & (
        joined["longest_bout"] >= joined["minutes_planned"]
    )
    done = joined.groupby(["patient_id", "week"]).agg(
        walks_done=("walk_done", "sum"),
        walking_minutes=("walking_minutes", "sum"),
        valid_days=("status", lambda s: int((s == "valid").sum())),
        days=("local_date", "size"),
    )
    return plan.join(done, on=["patient_id", "week"])
