"""Adherence findings: the spec's alert table, one pure function per rule.

Each rule takes the day table (``rules.programme.run_programme``), settings and
context frames, and returns findings: ``patient_id, rule, period, audience,
severity, message, fresh``. ``period`` names what the finding is about (a date,
a programme week, a streak, a sync gap) so the same finding found again has
the same key. ``fresh`` says whether it is news today: a patient message is
about now, a therapist's about the last fortnight; older findings are kept
only so that existing alerts are not withdrawn while they still hold.

Never judged as failed: provisional days, missing and low-wear days, days
with only a daily total (for bout rules), implausible days, and exempt days
(for the under-target and inactivity rules, as the spec says).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from rules.metrics import day_lookup
from rules.programme import _group_shift

FINDING_COLUMNS = [
    "patient_id",
    "rule",
    "period",
    "period_end",
    "audience",
    "severity",
    "message",
    "fresh",
]
PATIENT, THERAPIST = "patient", "therapist"
INFO, WARNING, URGENT = "info", "warning", "urgent"


def _day(value) -> str:
    return pd.Timestamp(value).date().isoformat()


def _week(value) -> str:
    return f"week of {_day(value)}"


def _days(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values).dt.strftime("%Y-%m-%d")


def _emit(
    rows: pd.DataFrame,
    rule: str,
    audience: str,
    severity: str,
    period: Callable[[pd.DataFrame], pd.Series],
    message: Callable[[dict], str],
    ends: pd.Series,
    today: pd.Series,
    params: pd.DataFrame,
) -> pd.DataFrame:
    """Findings for ``rows``; only fresh ones get a message (the rest are keys that
    keep existing alerts from being withdrawn)."""
    if rows.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    window = "fresh_patient_days" if audience == PATIENT else "fresh_therapist_days"
    age = (today.reindex(rows["patient_id"]).to_numpy() - ends.to_numpy()) // np.timedelta64(1, "D")
    fresh = age <= params[window].reindex(rows["patient_id"]).to_numpy()
    messages = np.full(len(rows), "", dtype=object)
    messages[fresh] = [message(r) for r in rows[fresh].to_dict("records")]
    return pd.DataFrame(
        {
            "patient_id": rows["patient_id"].to_numpy(),
            "rule": rule,
            "period": np.asarray(period(rows), dtype=object),
            "period_end": pd.to_datetime(ends.to_numpy()).date,
            "audience": audience,
            "severity": severity,
            "message": messages,
            "fresh": fresh,
        }
    )


def _per(params: pd.DataFrame, table: pd.DataFrame, name: str) -> np.ndarray:
    """A setting per day row (``param_row`` is set by ``rules.metrics.day_metrics``)."""
    return params[name].to_numpy()[table["param_row"].to_numpy()]


def _judgeable(table: pd.DataFrame) -> pd.Series:
    return (table["status"] == "valid") & ~table["implausible_day"]


def overdoing(table, params, today) -> pd.DataFrame:
    rows = table[table["overdoing"]]
    so_far = ~rows["settled"]

    def patient_message(r) -> str:
        when = "so far today" if not r["settled"] else f"on {_day(r['local_date'])}"
        return (
            f"Great energy! You've done {int(r['steps_counted']):,} steps {when}, more than "
            "your body is used to. Pace it: save some for tomorrow."
        )

    rows = rows.assign(settled=~so_far)
    return _emit(
        rows,
        "overdoing",
        PATIENT,
        WARNING,
        lambda f: _days(f["local_date"]),
        patient_message,
        rows["local_date"],
        today,
        params,
    )


def boom_bust(table, params, today) -> pd.DataFrame:
    """An overdoing day, then ``boom_bust_days`` settled valid days under
    ``boom_bust_fraction`` of that day's 7-day median."""
    group = pd.factorize(table["patient_id"])[0]
    judged = (_judgeable(table) & table["settled"]).to_numpy(float)
    steps = table["steps_counted"].to_numpy(float)
    need = _per(params, table, "boom_bust_days")
    limit = _per(params, table, "boom_bust_fraction") * table["median7"].to_numpy()
    hit = table["overdoing"].to_numpy() & table["settled"].to_numpy()
    after = []
    for lag in range(1, int(need.max(initial=0)) + 1):
        ahead = _group_shift(steps, group, -lag)
        ok = (_group_shift(judged, group, -lag) == 1) & (ahead < limit)
        hit &= (lag > need) | ok
        after.append(ahead)
    rows = table[hit].copy()
    if rows.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    rows["bust_end"] = rows["local_date"] + pd.to_timedelta(need[hit], unit="D")
    figures = np.column_stack(after)[hit]
    rows["bust_steps"] = [
        ", ".join(f"{int(v):,}" for v in line[:n])
        for line, n in zip(figures, need[hit], strict=True)
    ]
    period = lambda f: _days(f["local_date"])  # noqa: E731
    return pd.concat(
        [
            _emit(
                rows,
                "boom_bust",
                PATIENT,
                WARNING,
                period,
                lambda r: (
                    "A big day, then a couple of quiet ones: that's the boom-bust swing. "
                    "Steady, smaller walks every day will get you further."
                ),
                rows["bust_end"],
                today,
                params,
            ),
            _emit(
                rows,
                "boom_bust",
                THERAPIST,
                INFO,
                period,
                lambda r: (
                    f"Activity swing: {int(r['steps_counted']):,} steps on {_day(r['local_date'])} "
                    f"(ceiling {int(r['ceiling']):,}, 7-day median {int(r['median7']):,}), then "
                    f"{r['bust_steps']} steps."
                ),
                rows["bust_end"],
                today,
                params,
            ),
        ]
    )


def _runs(flags: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each row (0 where False), per key."""
    index = np.arange(len(flags))
    starts = np.r_[True, keys[1:] != keys[:-1]] if len(keys) else np.zeros(0, dtype=bool)
    marker = np.where(~flags, index, np.where(starts, index - 1, -1))
    return np.where(flags, index - np.maximum.accumulate(marker), 0)


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
    judged = _judgeable(table).to_numpy()[rows]
    intraday = table["has_intraday"].to_numpy()[rows]
    settled = table["settled"].to_numpy()[rows]
    is_exempt = (day_lookup(table, exempt, params) >= 0)[rows]
    walk_done = intraday & (
        table["longest_bout"].to_numpy()[rows] >= plan["minutes_planned"].to_numpy()[plan_at]
    )
    dates = table["local_date"].to_numpy("datetime64[D]")[rows]
    week_start = plan["week_start"].to_numpy("datetime64[D]")[plan_at]
    early = (dates - week_start).astype(np.int64) < params["nudge_day"].to_numpy()[prow]
    heads = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])

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


def under_target(weeks, params, today) -> pd.DataFrame:
    """``weeks``: ``weekly`` output. Weeks in maintenance are left to that rule."""
    if weeks.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    prow = weeks["param_row"].to_numpy()

    def per(name: str) -> np.ndarray:
        return params[name].to_numpy()[prow]

    judged = (
        (weeks["n_days"].to_numpy() == 7)
        & (weeks["unsettled"].to_numpy() == 0)
        & (weeks["exempt"].to_numpy() == 0)
        & (weeks["judged_days"].to_numpy() >= per("min_judged_days_per_week"))
    )
    planned = weeks["walks_planned"].to_numpy()
    goal = weeks["goal"].to_numpy()
    short = judged & ~goal & (weeks["walks"].to_numpy() <= planned - per("under_target_shortfall"))
    run = _runs(short, prow)
    hit = run >= per("under_target_weeks")
    running = weeks[hit].assign(weeks_running=run[hit])
    therapist = _emit(
        running,
        "under_target",
        THERAPIST,
        INFO,
        lambda f: "week of " + _days(f["week_start"]),
        lambda r: (
            f"Under target for {int(r['weeks_running'])} weeks running: {int(r['walks'])} of "
            f"{int(r['walks_planned'])} planned walks in the week of {_day(r['week_start'])}. "
            "Adjust the plan?"
        ),
        running["week_start"] + pd.Timedelta(days=6),
        today,
        params,
    )
    slow = weeks[
        (weeks["early_days"].to_numpy() == per("nudge_day"))
        & (weeks["early_unsettled"].to_numpy() == 0)
        & (weeks["early_exempt"].to_numpy() == 0)
        & (weeks["early_unjudged"].to_numpy() == 0)
        & ~goal
        & (weeks["early_walks"].to_numpy() < per("nudge_fraction") * planned)
    ]
    patient = _emit(
        slow,
        "under_target",
        PATIENT,
        INFO,
        lambda f: "week of " + _days(f["week_start"]),
        lambda r: (
            f"You've done {int(r['early_walks'])} of your {int(r['walks_planned'])} walks so "
            "far this week. There's still time: a short walk today counts!"
        ),
        slow["early_last"],
        today,
        params,
    )
    return pd.concat([therapist, patient])


def inactive_streak(table, params, exempt, today) -> pd.DataFrame:
    is_exempt = day_lookup(table, exempt, params) >= 0
    inactive = (
        _judgeable(table).to_numpy()
        & table["settled"].to_numpy()
        & table["has_intraday"].to_numpy()
        & ~is_exempt
        & (table["walking_minutes"].to_numpy() == 0)
    )
    pid = table["patient_id"].to_numpy()
    change = np.r_[True, (inactive[1:] != inactive[:-1]) | (pid[1:] != pid[:-1])]
    run = np.cumsum(change)
    frame = pd.DataFrame({"patient_id": pid, "run": run, "date": table["local_date"]})[inactive]
    runs = (
        frame.groupby(["patient_id", "run"])
        .agg(start=("date", "min"), end=("date", "max"), days=("date", "size"))
        .reset_index()
    )
    found = []
    for audience, setting, severity in (
        (PATIENT, "inactive_patient_days", INFO),
        (THERAPIST, "inactive_therapist_days", INFO),
    ):
        need = params[setting].reindex(runs["patient_id"]).to_numpy()
        rows = runs[runs["days"] >= need].copy()
        rows["reached"] = rows["start"] + pd.to_timedelta(
            params[setting].reindex(rows["patient_id"]).to_numpy() - 1, unit="D"
        )
        if audience == PATIENT:
            message = lambda r: (  # noqa: E731
                "It's been a few days without a longer walk. How about a short, easy one today? "
                "Every walk counts."
            )
        else:
            message = lambda r: (  # noqa: E731
                f"{int(r['days'])} valid days in a row with no walking bout "
                f"({_day(r['start'])} to {_day(r['end'])})."
            )
        found.append(
            _emit(
                rows,
                "inactive_streak",
                audience,
                severity,
                lambda f: "from " + _days(f["start"]),
                message,
                rows["reached"],
                today,
                params,
            )
        )
    return pd.concat(found)


def low_completeness(table, params, today) -> pd.DataFrame:
    """Judged on every day with a full, settled 30-day window behind it; one per week."""
    group = table["param_row"].to_numpy()
    window = _per(params, table, "completeness_window_days")
    # Prefix sums with a leading 0: the count over rows [a, b) is c[b] - c[a].
    with_data = np.r_[0, np.cumsum(table["wear_status"].to_numpy() != "missing")]
    settled = np.r_[0, np.cumsum(table["settled"].to_numpy())]
    starts = np.r_[0, np.flatnonzero(np.diff(group)) + 1]
    index = np.arange(len(table))
    judged = np.flatnonzero(index - starts[np.cumsum(np.r_[0, np.diff(group) != 0])] >= window)
    lo = judged - window[judged]
    days = with_data[judged] - with_data[lo]
    complete = settled[judged] - settled[lo] == window[judged]
    low = complete & (days < _per(params, table, "completeness_min_days")[judged])
    rows = table.iloc[judged[low]].assign(days=days[low], window=window[judged[low]])
    rows = rows[rows["week"] >= 0]
    rows = rows.sort_values("local_date").drop_duplicates(["patient_id", "week"], keep="last")
    return _emit(
        rows,
        "low_completeness",
        THERAPIST,
        INFO,
        lambda f: "programme week " + (f["week"] + 1).astype(int).astype(str),
        lambda r: (
            f"Monitoring incomplete: {int(r['days'])} of the last {int(r['window'])} days have "
            f"data (as of {_day(r['local_date'])})."
        ),
        rows["local_date"],
        today,
        params,
    )


def flare(flares: pd.DataFrame, params, today) -> pd.DataFrame:
    period = lambda f: _days(f["local_date"])  # noqa: E731
    return pd.concat(
        [
            _emit(
                flares,
                "flare",
                THERAPIST,
                URGENT,
                period,
                lambda r: f"Pain flare on {_day(r['local_date'])}: {r['reason']}. Level held.",
                flares["local_date"],
                today,
                params,
            ),
            _emit(
                flares,
                "flare",
                PATIENT,
                INFO,
                period,
                lambda r: (
                    "Sorry your back is sore. Keep walking, but hold at this week's level: "
                    "shorter, gentler walks are fine. Hold, don't stop."
                ),
                flares["local_date"],
                today,
                params,
            ),
        ]
    )


def maintenance(weeks, params, today) -> pd.DataFrame:
    """``weeks``: ``weekly`` output."""
    if weeks.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    weeks = weeks.assign(
        goal_reached=weeks["goal"],
        judged=(weeks["n_days"] == 7)
        & (weeks["unsettled"] == 0)
        & (
            weeks["judged_days"]
            >= params["min_judged_days_per_week"].to_numpy()[weeks["param_row"]]
        ),
    )
    group = weeks["param_row"].to_numpy()
    p = params.reindex(weeks["patient_id"])
    span = p["maintenance_weeks"].to_numpy()
    minutes = weeks["minutes"].to_numpy(float)
    counted = (weeks["goal_reached"] & weeks["judged"]).to_numpy(float)
    window = np.arange(int(span.max(initial=1)))
    inside = window[None, :] < span[:, None]
    back = np.column_stack([_group_shift(minutes, group, lag) for lag in window])
    ok = np.column_stack([_group_shift(counted, group, lag) for lag in window]) == 1
    full = (ok | ~inside).all(axis=1)
    mean = np.where(inside, back, 0).sum(axis=1) / span
    goal = p["goal_minutes_per_week"].to_numpy()
    low_mean = mean < p["maintenance_fraction"].to_numpy() * goal
    all_under = ((back < p["maintenance_min_minutes_week"].to_numpy()[:, None]) | ~inside).all(
        axis=1
    )
    hit = full & (low_mean | all_under)
    if not hit.any():
        return pd.DataFrame(columns=FINDING_COLUMNS)
    rows = weeks[hit].assign(mean=mean[hit], goal=goal[hit]).reset_index(drop=True)
    rows["figures"] = [
        ", ".join(str(int(m)) for m in line[:n][::-1])
        for line, n in zip(back[hit], span[hit], strict=True)
    ]
    ends = rows["week_start"] + pd.Timedelta(days=6)
    period = lambda f: "week of " + _days(f["week_start"])  # noqa: E731
    return pd.concat(
        [
            _emit(
                rows,
                "maintenance",
                PATIENT,
                INFO,
                period,
                lambda r: (
                    "You reached your walking goal: well done! Walking has slipped a little "
                    "lately; keeping it up is what keeps your back protected."
                ),
                ends,
                today,
                params,
            ),
            _emit(
                rows,
                "maintenance",
                THERAPIST,
                INFO,
                period,
                lambda r: (
                    f"Maintenance: {r['mean']:.0f} walking min/week over the last 4 weeks "
                    f"({r['figures']}), goal {int(r['goal'])}."
                ),
                ends,
                today,
                params,
            ),
        ]
    )


def implausible_data(table, params, today) -> pd.DataFrame:
    rows = table[table["implausible"]]
    return _emit(
        rows,
        "implausible_data",
        THERAPIST,
        INFO,
        lambda f: _days(f["local_date"]),
        lambda r: (
            f"Implausible data on {_day(r['local_date'])}: {int(r['steps']):,} steps, "
            f"{int(r['implausible_minutes'])} min above the per-minute limit "
            f"(source {r['source']}). Check the device or duplicates."
        ),
        rows["local_date"],
        today,
        params,
    )


def sync_findings(sync: pd.DataFrame, params, today) -> pd.DataFrame:
    """no_sync and disconnected, from the accounts' state now (never from history).

    ``sync``: per patient ``now`` (the evaluation instant, UTC), ``active_link``,
    ``last_data_at`` (UTC), ``last_data_date``, ``revoked``, ``revoked_date`` (local
    dates as ISO strings).
    """
    if sync.empty:
        return pd.DataFrame(columns=FINDING_COLUMNS)
    sync = sync.reset_index()
    hours = (sync["now"] - sync["last_data_at"]).dt.total_seconds() / 3600
    p = params.reindex(sync["patient_id"]).reset_index(drop=True)
    fresh_end = today.reindex(sync["patient_id"]).reset_index(drop=True)
    out = []
    for audience, setting, severity in (
        (PATIENT, "no_sync_patient_hours", INFO),
        (THERAPIST, "no_sync_therapist_hours", URGENT),
    ):
        rows = sync.assign(hours=hours)[sync["active_link"] & (hours >= p[setting])]
        if audience == PATIENT:
            message = lambda r: (  # noqa: E731
                "We haven't received new steps for a couple of days. Please open your watch's "
                "app so it can sync."
            )
        else:
            message = lambda r: (  # noqa: E731
                f"No new data for {r['hours'] / 24:.1f} days (last data "
                f"{r['last_data_date']}); minute data is at risk after about 7 days."
            )
        out.append(
            _emit(
                rows,
                "no_sync",
                audience,
                severity,
                lambda f: "since " + f["last_data_date"].astype(str),
                message,
                fresh_end.reindex(rows.index),
                today,
                params,
            )
        )
    revoked = sync[sync["revoked"]]
    for audience, message in (
        (
            PATIENT,
            lambda r: (
                "Your watch has been disconnected from stridewise. Please "
                "reconnect it so we can keep cheering you on."
            ),
        ),
        (
            THERAPIST,
            lambda r: f"Provider access revoked on {r['revoked_date']}; the patient must relink.",
        ),
    ):
        out.append(
            _emit(
                revoked,
                "disconnected",
                audience,
                URGENT,
                lambda f: "since " + f["revoked_date"].astype(str),
                message,
                fresh_end.reindex(revoked.index),
                today,
                params,
            )
        )
    return pd.concat(out)
