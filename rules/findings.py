"""Adherence findings: the spec's alert table, one pure function per rule.

Each rule takes the day table (``rules.programme.run_programme``) or the weekly
table, the settings and context frames, and returns findings
(``FINDING_COLUMNS``). ``period`` names the episode the finding is about (an
overdoing week, a streak, a sync gap, a date for one-off events) so the same
finding found again has the same key. ``facts`` are numbers and ISO dates;
``rules.messages`` holds the severity and the words. ``fresh`` says whether it
is news today (a patient message is about now, a therapist's about the last
fortnight; older findings only keep existing alerts from being withdrawn);
``ongoing`` is False once an episode has ended (the alert is then closed).

Never judged as failed: provisional days, missing and low-wear days, days
with only a daily total (for bout rules), implausible days, and exempt days
(for the under-target and inactivity rules, as the spec says).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.arrays import group_shift, iso_days, judgeable, per, per_day, records, run_starts, runs
from rules.arrays import week_monday as _monday
from rules.messages import PATIENT, THERAPIST, severity
from rules.metrics import day_lookup

FINDING_COLUMNS = [
    "patient_id",
    "rule",
    "period",
    "period_end",
    "audience",
    "severity",
    "facts",
    "fresh",
    "ongoing",
]


def _none() -> pd.DataFrame:
    return pd.DataFrame(columns=FINDING_COLUMNS)


def _emit(
    rows: pd.DataFrame,
    rule: str,
    audience: str,
    period: np.ndarray,
    facts: pd.DataFrame,
    ends: pd.Series,
    today: pd.Series,
    params: pd.DataFrame,
    ongoing: np.ndarray | bool = True,
) -> pd.DataFrame:
    """Findings for ``rows`` (``facts`` row-aligned with them)."""
    if rows.empty:
        return _none()
    window = "fresh_patient_days" if audience == PATIENT else "fresh_therapist_days"
    ends = pd.to_datetime(pd.Series(ends).reset_index(drop=True))
    age = (today.reindex(rows["patient_id"]).to_numpy() - ends.to_numpy()) // np.timedelta64(1, "D")
    fresh = age <= params[window].reindex(rows["patient_id"]).to_numpy()
    return pd.DataFrame(
        {
            "patient_id": rows["patient_id"].to_numpy(),
            "rule": rule,
            "period": np.asarray(period, dtype=object),
            "period_end": ends.dt.date.to_numpy(),
            "audience": audience,
            "severity": severity(rule, audience),
            "facts": records(facts.reset_index(drop=True)),
            "fresh": fresh,
            "ongoing": np.broadcast_to(np.asarray(ongoing, dtype=bool), len(rows)).copy(),
        }
    )


def _both(rows: pd.DataFrame, rule: str, facts: dict[str, pd.DataFrame], **kwargs) -> pd.DataFrame:
    """The same finding for each audience, with each audience's facts."""
    return pd.concat(
        [_emit(rows, rule, audience, facts=f, **kwargs) for audience, f in facts.items()]
    )


def overdoing(table, params, today) -> pd.DataFrame:
    """Days over the ceiling, one episode per patient and calendar week (principle 3):
    the facts follow the latest such day; ongoing while that week is running."""
    rows = table[table["overdoing"]]
    if rows.empty:
        return _none()
    # Rows are in patient, date order: each week's days are consecutive.
    monday = _monday(rows["local_date"]).to_numpy()
    pid = rows["patient_id"].to_numpy()
    heads = np.flatnonzero(run_starts(pid, monday))
    lasts = np.r_[heads[1:], len(rows)] - 1
    steps = rows["steps_counted"].to_numpy(np.int64)
    dates = rows["local_date"].to_numpy("datetime64[ns]")
    week = pd.DataFrame(
        {
            "patient_id": pid[heads],
            "week_start": monday[heads],
            "days": np.diff(np.r_[heads, len(rows)]),
            "dates": [list(d) for d in np.split(iso_days(dates), heads[1:])],
            "last_day": dates[lasts],
            "steps": steps[lasts],
            "most_steps": np.maximum.reduceat(steps, heads),
            "ceiling": np.round(rows["ceiling"].to_numpy(float)[lasts]).astype(np.int64),
        }
    )
    so_far = ~rows["settled"].to_numpy(bool)[lasts]
    week["until"] = week["last_day"].where(so_far, week["last_day"] - pd.Timedelta(days=1))
    week_end = week["week_start"] + pd.Timedelta(days=6)
    running = week_end.to_numpy() >= today.reindex(week["patient_id"]).to_numpy()
    return _emit(
        week,
        "overdoing",
        PATIENT,
        "week of " + iso_days(week["week_start"]),
        week[
            ["week_start", "days", "dates", "last_day", "steps", "most_steps", "ceiling", "until"]
        ],
        week["last_day"],
        today,
        params,
        ongoing=running,
    )


def boom_bust(table, params, today) -> pd.DataFrame:
    """An overdoing day, then ``boom_bust_days`` settled valid days under
    ``boom_bust_fraction`` of that day's recent median."""
    group = pd.factorize(table["patient_id"])[0]
    judged = (judgeable(table) & table["settled"].to_numpy()).astype(float)
    steps = table["steps_counted"].to_numpy(float)
    need = per_day(params, table, "boom_bust_days")
    limit = per_day(params, table, "boom_bust_fraction") * table["median7"].to_numpy()
    hit = table["overdoing"].to_numpy() & table["settled"].to_numpy()
    after = []
    for lag in range(1, int(need.max(initial=0)) + 1):
        ahead = group_shift(steps, group, -lag)
        ok = (group_shift(judged, group, -lag) == 1) & (ahead < limit)
        hit &= (lag > need) | ok
        after.append(ahead)
    rows = table[hit].reset_index(drop=True)
    if rows.empty:
        return _none()
    ends = rows["local_date"] + pd.to_timedelta(need[hit], unit="D")
    figures = np.column_stack(after)[hit]
    facts = pd.DataFrame(
        {
            "day": rows["local_date"],
            "steps": rows["steps_counted"].astype(np.int64),
            "ceiling": rows["ceiling"].round().astype(np.int64),
            "median": rows["median7"].round().astype(np.int64),
        }
    )
    facts["after"] = [
        [int(v) for v in line[:n]] for line, n in zip(figures, need[hit], strict=True)
    ]
    period = iso_days(rows["local_date"])
    return _both(
        rows,
        "boom_bust",
        {PATIENT: facts[["day"]], THERAPIST: facts},
        period=period,
        ends=ends,
        today=today,
        params=params,
    )


def weekly(table, plan, params, exempt) -> pd.DataFrame:
    """Per patient and programme week (in patient, week order): the plan, walks done (a
    day whose longest bout reached the planned minutes), walking minutes, and the day
    counts the under-target and maintenance rules judge a week by; ``early_*`` count the
    days up to the mid-week nudge day."""
    if plan.empty:
        return pd.DataFrame()
    rows = np.flatnonzero(table["week"].to_numpy() >= 0)
    prow = table["param_row"].to_numpy()[rows]
    key = prow.astype(np.int64) * 100_000 + table["week"].to_numpy(np.int64)[rows]
    plan_key = params.index.get_indexer(plan["patient_id"]).astype(np.int64) * 100_000 + plan[
        "week"
    ].to_numpy(np.int64)
    order = np.argsort(plan_key, kind="stable")
    at = np.clip(np.searchsorted(plan_key[order], key), 0, len(plan_key) - 1)
    found = plan_key[order][at] == key
    rows, prow, key, plan_at = rows[found], prow[found], key[found], order[at[found]]
    if len(rows) == 0:
        return pd.DataFrame()
    judged = judgeable(table)[rows]
    intraday = table["has_intraday"].to_numpy()[rows]
    settled = table["settled"].to_numpy()[rows]
    is_exempt = (day_lookup(table, exempt, params) >= 0)[rows]
    walk_done = intraday & (
        table["longest_bout"].to_numpy()[rows] >= plan["minutes_planned"].to_numpy()[plan_at]
    )
    dates = table["local_date"].to_numpy("datetime64[D]")[rows]
    week_start = plan["week_start"].to_numpy("datetime64[D]")[plan_at]
    early = (dates - week_start).astype(np.int64) < per(params, prow, "nudge_day")
    heads = np.flatnonzero(run_starts(key))

    def total(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(values.astype(np.int64), heads)

    judged_day = intraday & judged
    first = plan_at[heads]
    return pd.DataFrame(
        {
            "param_row": prow[heads],
            "patient_id": params.index.to_numpy()[prow[heads]],
            "week": plan["week"].to_numpy()[first],
            "week_start": week_start[heads].astype("datetime64[ns]"),
            "walks_planned": plan["walks_planned"].to_numpy()[first],
            "goal": plan["goal_reached"].to_numpy(bool)[first],
            "n_days": total(np.ones(len(rows))),
            "unsettled": total(~settled),
            "exempt": total(is_exempt),
            "judged_days": total(judged_day),
            "walks": total(walk_done),
            "minutes": total(table["walking_minutes"].to_numpy()[rows]),
            "early_days": total(early),
            "early_unsettled": total(early & ~settled),
            "early_exempt": total(early & is_exempt),
            "early_unjudged": total(early & ~judged_day),
            "early_walks": total(early & walk_done),
            "early_last": np.maximum.reduceat(
                np.where(early, dates, np.datetime64("1970-01-01")), heads
            ).astype("datetime64[ns]"),
        }
    )


def _judged_weeks(weeks: pd.DataFrame, params: pd.DataFrame) -> np.ndarray:
    """Whole, settled weeks with enough days of minute data to judge."""
    return (
        (weeks["n_days"].to_numpy() == 7)
        & (weeks["unsettled"].to_numpy() == 0)
        & (
            weeks["judged_days"].to_numpy()
            >= per(params, weeks["param_row"].to_numpy(), "min_judged_days_per_week")
        )
    )


def under_target(weeks, params, today) -> pd.DataFrame:
    """Therapist: a run of short weeks, one episode from its first week (ongoing while
    the latest judged week is short). Patient: the mid-week nudge, ongoing while its
    week runs. Weeks in maintenance are left to that rule."""
    if weeks.empty:
        return _none()
    prow = weeks["param_row"].to_numpy()
    planned = weeks["walks_planned"].to_numpy()
    goal = weeks["goal"].to_numpy()
    short = (
        _judged_weeks(weeks, params)
        & (weeks["exempt"].to_numpy() == 0)
        & ~goal
        & (weeks["walks"].to_numpy() <= planned - per(params, prow, "under_target_shortfall"))
    )
    run = runs(short, prow)
    hit = run >= per(params, prow, "under_target_weeks")
    latest = weeks.groupby("patient_id", sort=False)["week"].transform("max").to_numpy()
    running = weeks[hit].assign(
        weeks_running=run[hit],
        run_start=weeks["week_start"][hit] - pd.to_timedelta(7 * (run[hit] - 1), unit="D"),
        # the week in progress is not judged yet, so "latest" is the one before it
        ongoing=weeks["week"].to_numpy()[hit] >= latest[hit] - 1,
    )
    running = running.groupby(["patient_id", "run_start"], sort=False).tail(1)
    therapist = _emit(
        running,
        "under_target",
        THERAPIST,
        "from week of " + iso_days(running["run_start"]),
        running[["week_start", "weeks_running", "walks", "walks_planned"]],
        running["week_start"] + pd.Timedelta(days=6),
        today,
        params,
        ongoing=running["ongoing"].to_numpy(bool),
    )
    slow = weeks[
        (weeks["early_days"].to_numpy() == per(params, prow, "nudge_day"))
        & (weeks["early_unsettled"].to_numpy() == 0)
        & (weeks["early_exempt"].to_numpy() == 0)
        & (weeks["early_unjudged"].to_numpy() == 0)
        & ~goal
        & (weeks["early_walks"].to_numpy() < per(params, prow, "nudge_fraction") * planned)
    ]
    week_end = slow["week_start"] + pd.Timedelta(days=6)
    facts = pd.DataFrame(
        {
            "week_start": slow["week_start"],
            "walks": slow["early_walks"],
            "walks_planned": slow["walks_planned"],
            "nudge_day": per(params, slow["param_row"].to_numpy(), "nudge_day"),
            "until": week_end,
        }
    )
    patient = _emit(
        slow,
        "under_target",
        PATIENT,
        "week of " + iso_days(slow["week_start"]),
        facts,
        slow["early_last"],
        today,
        params,
        ongoing=week_end.to_numpy() >= today.reindex(slow["patient_id"]).to_numpy(),
    )
    return pd.concat([therapist, patient])


def inactive_days(table: pd.DataFrame, params: pd.DataFrame, exempt: pd.DataFrame) -> np.ndarray:
    """Settled, valid, minute-data, non-exempt days with no walking bout and fewer
    steps than ``steps_limit`` (principle 2: little movement for this person)."""
    return (
        judgeable(table)
        & table["settled"].to_numpy()
        & table["has_intraday"].to_numpy()
        & (day_lookup(table, exempt, params) < 0)
        & (table["walking_minutes"].to_numpy() == 0)
        & (table["steps_counted"].to_numpy() < table["steps_limit"].to_numpy())
    )


def inactive_streak(table, params, exempt, today) -> pd.DataFrame:
    """Runs of inactive days; one episode per run, ongoing until a judged day breaks it."""
    inactive = inactive_days(table, params, exempt)
    pid = table["patient_id"].to_numpy()
    change = run_starts(inactive, pid)
    run = np.cumsum(change)
    frame = pd.DataFrame(
        {
            "patient_id": pid,
            "run": run,
            "date": table["local_date"],
            "limit": table["steps_limit"].to_numpy(),
        }
    )
    # A run still holds while no later settled, judged day has broken it.
    broken = judgeable(table) & table["settled"].to_numpy() & ~inactive
    last_break = (
        pd.Series(np.where(broken, table["local_date"], pd.NaT), dtype="datetime64[ns]")
        .groupby(pid)
        .max()
    )
    runs_ = (
        frame[inactive]
        .groupby(["patient_id", "run"])
        .agg(
            start=("date", "min"),
            end=("date", "max"),
            days=("date", "size"),
            limit=("limit", "min"),
        )
        .reset_index()
    )
    ongoing = ~(last_break.reindex(runs_["patient_id"]).to_numpy() > runs_["end"].to_numpy())
    runs_["ongoing"] = ongoing
    found = []
    for audience, setting in (
        (PATIENT, "inactive_patient_days"),
        (THERAPIST, "inactive_therapist_days"),
    ):
        need = params[setting].reindex(runs_["patient_id"]).to_numpy()
        rows = runs_[runs_["days"] >= need].reset_index(drop=True)
        reached = rows["start"] + pd.to_timedelta(
            params[setting].reindex(rows["patient_id"]).to_numpy() - 1, unit="D"
        )
        facts = pd.DataFrame(
            {
                "start": rows["start"],
                "end": rows["end"],
                "days": rows["days"],
                "steps_limit": np.nan_to_num(rows["limit"].to_numpy(float)).round().astype(int),
                # "a short walk today?" reads right only the day after the streak's end
                "until": rows["end"] + pd.Timedelta(days=1),
            }
        )
        found.append(
            _emit(
                rows,
                "inactive_streak",
                audience,
                "from " + iso_days(rows["start"]),
                facts,
                reached,
                today,
                params,
                ongoing=rows["ongoing"].to_numpy(bool),
            )
        )
    return pd.concat(found)


def low_completeness(table, params, today) -> pd.DataFrame:
    """Judged on every day with a full, settled 30-day window behind it; one per week."""
    group = table["param_row"].to_numpy()
    window = per_day(params, table, "completeness_window_days")
    # Prefix sums with a leading 0: the count over rows [a, b) is c[b] - c[a].
    with_data = np.r_[0, np.cumsum(table["wear_status"].to_numpy() != "missing")]
    settled = np.r_[0, np.cumsum(table["settled"].to_numpy())]
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    index = np.arange(len(table))
    judged = np.flatnonzero(index - starts[np.cumsum(np.r_[0, np.diff(group) != 0])] >= window)
    lo = judged - window[judged]
    days = with_data[judged] - with_data[lo]
    complete = settled[judged] - settled[lo] == window[judged]
    low = complete & (days < per_day(params, table, "completeness_min_days")[judged])
    rows = table.iloc[judged[low]].assign(days=days[low], window=window[judged[low]])
    rows = rows[rows["week"] >= 0]
    rows = rows.sort_values("local_date").drop_duplicates(["patient_id", "week"], keep="last")
    return _emit(
        rows,
        "low_completeness",
        THERAPIST,
        "programme week " + (rows["week"] + 1).astype(int).astype(str).to_numpy(object),
        pd.DataFrame({"day": rows["local_date"], "days": rows["days"], "window": rows["window"]}),
        rows["local_date"],
        today,
        params,
    )


def flare(flares: pd.DataFrame, params, today) -> pd.DataFrame:
    if flares.empty:
        return _none()
    facts = pd.DataFrame(
        {
            "day": flares["local_date"],
            "score": flares["score"].astype(np.int64),
            "kind": flares["kind"],
            "usual": flares["usual"].astype(float),
            "previous": flares["previous"].astype(float),
        }
    )
    return _both(
        flares,
        "flare",
        {THERAPIST: facts, PATIENT: facts[["day"]]},
        period=iso_days(flares["local_date"]),
        ends=flares["local_date"],
        today=today,
        params=params,
    )


def maintenance(weeks, params, today) -> pd.DataFrame:
    """``weeks``: ``weekly`` output."""
    if weeks.empty:
        return _none()
    counted = (weeks["goal"].to_numpy() & _judged_weeks(weeks, params)).astype(float)
    group = weeks["param_row"].to_numpy()
    p = params.reindex(weeks["patient_id"])
    span = p["maintenance_weeks"].to_numpy()
    minutes = weeks["minutes"].to_numpy(float)
    window = np.arange(int(span.max(initial=1)))
    inside = window[None, :] < span[:, None]
    back = np.column_stack([group_shift(minutes, group, lag) for lag in window])
    ok = np.column_stack([group_shift(counted, group, lag) for lag in window]) == 1
    full = (ok | ~inside).all(axis=1)
    mean = np.where(inside, back, 0).sum(axis=1) / span
    goal = p["goal_minutes_per_week"].to_numpy()
    low_mean = mean < p["maintenance_fraction"].to_numpy() * goal
    all_under = ((back < p["maintenance_min_minutes_week"].to_numpy()[:, None]) | ~inside).all(
        axis=1
    )
    hit = full & (low_mean | all_under)
    if not hit.any():
        return _none()
    rows = weeks[hit].reset_index(drop=True)
    facts = pd.DataFrame(
        {"week_start": rows["week_start"], "mean": mean[hit], "goal": goal[hit], "weeks": span[hit]}
    )
    facts["minutes"] = [
        [int(m) for m in line[:n][::-1]] for line, n in zip(back[hit], span[hit], strict=True)
    ]
    return _both(
        rows,
        "maintenance",
        {PATIENT: facts[["week_start"]], THERAPIST: facts},
        period="week of " + iso_days(rows["week_start"]),
        ends=rows["week_start"] + pd.Timedelta(days=6),
        today=today,
        params=params,
    )


def implausible_data(table, params, today) -> pd.DataFrame:
    rows = table[table["implausible"]]
    facts = pd.DataFrame(
        {
            "day": rows["local_date"],
            "steps": rows["steps"].astype(np.int64),
            "minutes": rows["implausible_minutes"].astype(np.int64),
            "source": rows["source"].astype(str),
        }
    )
    return _emit(
        rows,
        "implausible_data",
        THERAPIST,
        iso_days(rows["local_date"]),
        facts,
        rows["local_date"],
        today,
        params,
    )


def sync_findings(sync: pd.DataFrame, params, today) -> pd.DataFrame:
    """no_sync and disconnected, from the accounts' state now (never from history):
    each an episode that lasts while the state does.

    ``sync``: per patient ``now`` (the evaluation instant, UTC), ``active_link``,
    ``last_data_at`` (UTC), ``last_data_date``, ``revoked``, ``revoked_date`` (local
    dates as ISO strings).
    """
    if sync.empty:
        return _none()
    sync = sync.reset_index()
    hours = (sync["now"] - sync["last_data_at"]).dt.total_seconds() / 3600
    p = params.reindex(sync["patient_id"]).reset_index(drop=True)
    fresh_end = today.reindex(sync["patient_id"]).reset_index(drop=True)
    out = []
    for audience, setting in (
        (PATIENT, "no_sync_patient_hours"),
        (THERAPIST, "no_sync_therapist_hours"),
    ):
        keep = (sync["active_link"] & (hours >= p[setting])).to_numpy()
        rows = sync[keep]
        facts = pd.DataFrame(
            {"last_data": rows["last_data_date"].astype(str), "gap_days": hours[keep] / 24}
        )
        out.append(
            _emit(
                rows,
                "no_sync",
                audience,
                ("since " + rows["last_data_date"].astype(str)).to_numpy(object),
                facts,
                fresh_end[keep],
                today,
                params,
            )
        )
    revoked = sync[sync["revoked"].to_numpy(bool)]
    facts = pd.DataFrame({"since": revoked["revoked_date"].astype(str)})
    for audience in (PATIENT, THERAPIST):
        out.append(
            _emit(
                revoked,
                "disconnected",
                audience,
                ("since " + facts["since"]).to_numpy(object),
                facts,
                fresh_end[sync["revoked"].to_numpy(bool)],
                today,
                params,
            )
        )
    return pd.concat(out)
