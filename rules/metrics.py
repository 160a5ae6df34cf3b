"""Day metrics for many patients at once: the one table every rule reads.

Inputs are the day view's frames (``ingest.dayview``): merged, never-add-up
intervals and per-day steps. Output has one row per patient per local date
from the patient's first programme day to their "today", so missing days are
explicit rows, not gaps a rolling window would silently skip.

Units: steps; minutes; hours. ``local_date`` is a naive ``datetime64`` midnight.

Day status (spec, "Wear and valid days"):
- ``valid``: at least ``valid_wear_hours`` distinct hours holding a step, or a
  daily-total-only day of at least ``valid_daily_total_steps``;
- ``low_wear``: some steps but below that;
- ``missing``: nothing synced;
- ``provisional``: not settled yet (today, or the day ended less than
  ``settle_hours`` ago and no later sync has covered it). Rules may say "so far"
  about a provisional day but never judge it as failed.
Implausible minutes (above ``implausible_minute_steps`` a minute) are kept and
counted but left out of ``steps_counted`` and of bouts; a day above
``implausible_day_steps`` is flagged and left out of targets.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.bouts import detect_bouts, estimate_coarse_bouts

INTERVAL_METRIC_COLUMNS = [
    "wear_hours",
    "walking_minutes",
    "bouts",
    "longest_bout",
    "intraday_minutes",
    "implausible_minutes",
    "implausible_steps",
]
STATUSES = ["valid", "low_wear", "missing", "provisional"]


def _day_number(local_date: pd.Series | np.ndarray) -> np.ndarray:
    return np.asarray(local_date, dtype="datetime64[D]").astype(np.int64)


def interval_day_metrics(intervals: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """Wear hours, bouts and implausible minutes per (patient_id, local_date).

    ``intervals`` are merged intervals; ``params`` holds each patient's settings
    (``rules.programme_config.params_frame``).
    """
    if intervals.empty:
        return pd.DataFrame(columns=["patient_id", "local_date", *INTERVAL_METRIC_COLUMNS]).astype(
            {c: "int64" for c in INTERVAL_METRIC_COLUMNS}
        )
    codes, patients = pd.factorize(intervals["patient_id"])
    start_s = intervals["start_utc"].to_numpy("datetime64[s]").astype(np.int64)
    order = np.lexsort((start_s, codes))  # by patient, then time
    patient_codes, start_s = codes[order], start_s[order]
    p = params.reindex(patients)
    end_s = intervals["end_utc"].to_numpy("datetime64[s]").astype(np.int64)[order]
    steps = intervals["steps"].to_numpy(np.int64)[order]
    minutes = np.maximum((end_s - start_s) / 60.0, 1e-9)
    day = _day_number(intervals["local_date"].to_numpy()[order])
    day_key = patient_codes.astype(np.int64) * 1_000_000 + (day - day.min())
    keys, day_index = np.unique(day_key, return_inverse=True)
    n_days = len(keys)

    def per(name: str) -> np.ndarray:
        return p[name].to_numpy()[patient_codes]

    implausible = steps / minutes > per("implausible_minute_steps")
    hour = start_s // 3600
    worn = np.unique(day_index[steps > 0] * 1_000_000_000 + hour[steps > 0] % 1_000_000_000)
    wear_hours = np.bincount(worn // 1_000_000_000, minlength=n_days)

    fine = minutes <= 1.0
    walk_min = np.zeros(n_days, dtype=np.int64)
    bout_count = np.zeros(n_days, dtype=np.int64)
    longest = np.zeros(n_days, dtype=np.int64)
    for mask, coarse in ((fine & ~implausible, False), (~fine & ~implausible, True)):
        rows = np.flatnonzero(mask)
        if len(rows) == 0:
            continue
        r_day, r_start, r_end = day_index[rows], start_s[rows], end_s[rows]
        new_block = np.r_[True, (r_day[1:] != r_day[:-1]) | (r_start[1:] != r_end[:-1])]
        threshold = per("cadence_threshold")[rows]
        if coarse:
            est, chain = estimate_coarse_bouts(
                new_block, steps[rows], minutes[rows], threshold, per("bout_min_minutes")[rows]
            )
            weight, bout_id = est, chain
        else:
            bout_id = detect_bouts(
                new_block,
                steps[rows] >= threshold,
                per("bout_min_minutes")[rows],
                per("bout_max_below_fraction")[rows],
                per("bout_max_below_run")[rows],
            )
            weight = np.ones(len(rows), dtype=np.int64)
        inside = bout_id >= 0
        lengths = np.bincount(bout_id[inside], weights=weight[inside]).astype(np.int64)
        owner = np.zeros(len(lengths), dtype=np.int64)
        owner[bout_id[inside]] = r_day[inside]
        present = lengths > 0
        np.add.at(walk_min, owner[present], lengths[present])
        np.add.at(bout_count, owner[present], 1)
        np.maximum.at(longest, owner[present], lengths[present])

    codes = keys // 1_000_000
    out = pd.DataFrame(
        {
            "patient_id": np.asarray(patients)[codes],
            "local_date": (keys % 1_000_000 + day.min())
            .astype("datetime64[D]")
            .astype("datetime64[ns]"),
            "wear_hours": wear_hours,
            "walking_minutes": walk_min,
            "bouts": bout_count,
            "longest_bout": longest,
            "intraday_minutes": np.bincount(
                day_index, weights=np.where(fine, 1.0, minutes), minlength=n_days
            ).astype(np.int64),
            "implausible_minutes": np.bincount(
                day_index, weights=np.where(implausible, minutes, 0.0), minlength=n_days
            ).astype(np.int64),
            "implausible_steps": np.bincount(
                day_index, weights=np.where(implausible, steps, 0), minlength=n_days
            ).astype(np.int64),
        }
    )
    return out


def calendar_frame(
    patient_ids: list[str], first: list, today: list, synced: list, start: list | None = None
) -> pd.DataFrame:
    """Per patient: first day of the table (the baseline's first day), local today,
    local date of the last sync (``None``: no linked account, so stored days are final
    once over) and the programme's start date (``None``: not enrolled, so no programme
    findings; by default the day after the baseline week)."""
    if start is None:
        start = [pd.Timestamp(f) + pd.Timedelta(days=7) for f in first]
    frame = pd.DataFrame(
        {"first_date": first, "today": today, "synced_date": synced, "start": start},
        index=pd.Index(patient_ids, name="patient_id"),
    )
    for column in frame.columns:
        frame[column] = pd.to_datetime(frame[column]).astype("datetime64[ns]")
    return frame


def day_metrics(
    days: pd.DataFrame,
    interval_metrics: pd.DataFrame,
    params: pd.DataFrame,
    calendar: pd.DataFrame,
) -> pd.DataFrame:
    """The full day table: every patient's every date from ``first_date`` to ``today``."""
    first = calendar["first_date"].to_numpy("datetime64[D]")
    today = calendar["today"].to_numpy("datetime64[D]")
    counts = np.maximum((today - first).astype(np.int64) + 1, 0)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    table = pd.DataFrame(
        {
            # Categorical: a day table holds a patient's id once per day (memory).
            "patient_id": pd.Categorical.from_codes(
                np.repeat(np.arange(len(calendar)), counts), categories=calendar.index
            ),
            "local_date": (np.repeat(first, counts) + offsets).astype("datetime64[ns]"),
        }
    )
    starts = np.cumsum(counts) - counts

    def place(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """Grid positions of ``frame``'s (patient, date) rows, and which rows have one."""
        row = calendar.index.get_indexer(frame["patient_id"])
        safe = np.maximum(row, 0)
        day_no = (frame["local_date"].to_numpy("datetime64[D]") - first[safe]).astype(np.int64)
        inside = (row >= 0) & (day_no >= 0) & (day_no < counts[safe])
        return starts[safe[inside]] + day_no[inside], inside

    n = len(table)
    at, inside = place(days)
    steps = np.zeros(n, dtype=np.int64)
    steps[at] = days["steps"].astype("Float64").fillna(0).to_numpy(np.int64)[inside]
    table["steps"] = steps
    for column, empty in (("source", ""), ("basis", "none")):
        codes, names = pd.factorize(days[column].to_numpy(object)[inside])
        placed = np.full(n, len(names), dtype=np.int64)
        placed[at] = codes
        table[column] = pd.Categorical.from_codes(placed, [*names, empty])
    total = np.full(n, np.nan)
    total[at] = days["daily_total_steps"].astype("Float64").to_numpy(float, na_value=np.nan)[inside]
    running = np.zeros(n, dtype=bool)
    running[at] = days["provisional"].astype("boolean").fillna(False).to_numpy(bool)[inside]
    at, inside = place(interval_metrics)
    for column in INTERVAL_METRIC_COLUMNS:
        wide = column == "implausible_steps"
        values = np.zeros(n, dtype=np.int64 if wide else np.int32)
        values[at] = interval_metrics[column].to_numpy(np.int64)[inside]
        table[column] = values
    table["has_intraday"] = table["basis"].to_numpy() == "intervals"

    # Row of each day's patient in ``params``: one lookup, reused by every rule.
    owner = np.repeat(np.arange(len(calendar)), counts)
    rows = params.index.get_indexer(calendar.index)[owner]
    table["param_row"] = rows

    def per(name: str) -> np.ndarray:
        return params[name].to_numpy()[rows]

    valid = np.where(
        table["has_intraday"],
        table["wear_hours"] >= per("valid_wear_hours"),
        np.nan_to_num(total) >= per("valid_daily_total_steps"),
    )
    wear_code = np.where(valid, 0, np.where(table["steps"] > 0, 1, 2))
    date = table["local_date"].to_numpy("datetime64[D]")
    age_days = (today[owner] - date).astype(np.int64)
    aged_out = age_days >= 1 + np.ceil(per("settle_hours") / 24)
    synced = calendar["synced_date"].to_numpy("datetime64[D]")[owner]
    covered = np.isnat(synced) | (synced > date)
    settled = (age_days > 0) & (covered | aged_out) & (~running | aged_out)
    # Categoricals: cheap to build and to compare for millions of days.
    table["wear_status"] = pd.Categorical.from_codes(wear_code, STATUSES)
    table["settled"] = settled
    table["status"] = pd.Categorical.from_codes(np.where(settled, wear_code, 3), STATUSES)
    table["implausible_day"] = table["steps"] > per("implausible_day_steps")
    table["implausible"] = table["implausible_day"] | (table["implausible_minutes"] > 0)
    table["steps_counted"] = table["steps"] - table["implausible_steps"]
    return table


def day_lookup(table: pd.DataFrame, frame: pd.DataFrame, params: pd.DataFrame) -> np.ndarray:
    """For each day row of ``table``, the row of ``frame`` with the same patient and local
    date (-1 if none): a join on integer keys, for small per-day frames such as exempt
    days and flares (``frame`` holds each patient-day at most once)."""
    if frame.empty:
        return np.full(len(table), -1)

    def key(rows: np.ndarray, dates) -> np.ndarray:
        days = np.asarray(dates, dtype="datetime64[D]").astype(np.int64)
        return rows.astype(np.int64) * 10_000_000 + days

    wanted = key(params.index.get_indexer(frame["patient_id"]), frame["local_date"])
    order = np.argsort(wanted, kind="stable")
    ordered = wanted[order]
    probe = key(table["param_row"].to_numpy(), table["local_date"].to_numpy())
    at = np.clip(np.searchsorted(ordered, probe), 0, len(ordered) - 1)
    return np.where(ordered[at] == probe, order[at], -1)
