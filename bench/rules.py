"""Rules throughput: day metrics and every rule for 10,000 patients x 180 days, beside
a straightforward per-patient Python loop measured in the same run.

    python bench/rules.py [--patients 10000] [--days 180] [--minute-patients 200]
                          [--loop-patients 100] [--incremental-patients 50] [--full]

Two parts, because minute data for 10,000 x 180 days is 1.6 billion minutes:
1. Bout detection and per-day minute metrics (``rules.metrics.interval_day_metrics``)
   on ``--minute-patients`` patients of synthetic minute data (worn 07-22, pottering
   and 0-2 walks a day), generated and processed in chunks; throughput in minutes/s,
   extrapolated to the full population (pass ``--minute-patients 10000`` to measure it).
2. Day-level rules on the full population: ``day_metrics`` (status, settling),
   the programme (baseline, weekly levels, ceilings) and every finding, from
   per-day inputs as the day view and step 1 would hand them over.
The baseline is a plain Python loop per patient over its days (and, for bouts, over
its minutes), run on a subset and extrapolated linearly.

3. A daily evaluate when only the last day changed (``rules.summaries``: stored day
   summaries reused, only the dirty last day's minutes read and recomputed) against a
   full recompute of every day's minute metrics, measured in the same run on
   ``--incremental-patients`` patients' minutes and extrapolated, plus the day-level
   rules of part 2 (which both run in full). ``--full`` measures parts 1 and 3 on all
   10,000 patients (slow).

Goals: day-level rules under 5 s for 10,000 x 180 days; peak memory under 1 GiB; the
daily evaluate with one changed day at least 20x cheaper than a full recompute.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

# This script shares its name with the ``rules`` package: keep its own folder off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from rules.bouts import detect_bouts  # noqa: E402
from rules.evaluate import SYNC_COLUMNS, findings_for  # noqa: E402
from rules.metrics import (  # noqa: E402
    INTERVAL_METRIC_COLUMNS,
    calendar_frame,
    day_metrics,
    interval_day_metrics,
)
from rules.pain import flare_days  # noqa: E402
from rules.programme import run_programme  # noqa: E402
from rules.programme_config import load_programme, params_frame  # noqa: E402
from rules.summaries import Plan, day_metrics_with  # noqa: E402

FIRST = np.datetime64("2026-01-05")
WORN = 900  # minutes a day, 07:00-22:00
POTTER = np.array([0, 0, 0, 0, 3, 8, 15, 30], dtype=np.int64)


def minute_steps(rng: np.random.Generator, patient_days: int) -> np.ndarray:
    """(patient_days, WORN) steps: pottering plus 0-2 walks at 95-120 steps/min."""
    steps = POTTER[rng.integers(0, len(POTTER), size=(patient_days, WORN))]
    column = np.arange(WORN)[None, :]
    for _ in range(2):
        has = rng.random(patient_days) < 0.5
        length = rng.integers(10, 41, patient_days)
        start = rng.integers(0, WORN - 41, patient_days)
        cadence = rng.integers(95, 121, patient_days)
        walking = has[:, None] & (column >= start[:, None]) & (column < (start + length)[:, None])
        noisy = cadence[:, None] + rng.integers(-6, 7, size=(patient_days, WORN))
        steps = np.where(walking, noisy, steps)
    return steps


def minute_frame(first_patient: int, patients: int, days: int, rng) -> pd.DataFrame:
    """Merged-interval frame (the day view's layout) for a chunk of patients."""
    steps = minute_steps(rng, patients * days)
    n = steps.size
    pd_index = np.repeat(np.arange(patients * days), WORN)
    patient = pd_index // days
    day = pd_index % days
    minute = np.tile(np.arange(WORN), patients * days)
    start = (
        (FIRST + day.astype("timedelta64[D]")).astype("datetime64[s]")
        + ((7 * 60 + minute) * 60).astype("timedelta64[s]")
    ).astype("datetime64[ns]")
    names = np.array([f"B{first_patient + p:05d}" for p in range(patients)], dtype=object)
    return pd.DataFrame(
        {
            "patient_id": pd.Categorical.from_codes(patient, categories=names),
            "provider": "csv",
            "device": "bench",
            "start_utc": pd.DatetimeIndex(start).tz_localize("UTC"),
            "end_utc": pd.DatetimeIndex(start + np.timedelta64(60, "s")).tz_localize("UTC"),
            "utc_offset_s": np.zeros(n, dtype=np.int64),
            "local_date": (FIRST + day.astype("timedelta64[D]")).astype("datetime64[ns]"),
            "steps": steps.ravel(),
            "resolution_s": 60,
            "recording_method": None,
        }
    )


def bench_minutes(args, params_all: pd.DataFrame) -> dict:
    rng = np.random.default_rng(1)
    chunk = 10
    total_minutes = 0
    detect_s = metrics_s = 0.0
    for first in range(0, args.minute_patients, chunk):
        size = min(chunk, args.minute_patients - first)
        frame = minute_frame(first, size, args.days, rng)
        frame["patient_id"] = frame["patient_id"].astype(str)
        params = params_all.iloc[first : first + size]
        steps = frame["steps"].to_numpy()
        new_block = np.r_[True, np.diff(frame["local_date"].to_numpy().astype(np.int64)) != 0]
        t = time.perf_counter()
        detect_bouts(new_block, steps >= 100)
        detect_s += time.perf_counter() - t
        t = time.perf_counter()
        interval_day_metrics(frame, params)
        metrics_s += time.perf_counter() - t
        total_minutes += len(frame)
        del frame
    loop_minutes, loop_s = loop_bouts(rng, args)
    return {
        "minutes": total_minutes,
        "detect_rate": total_minutes / detect_s,
        "metrics_rate": total_minutes / metrics_s,
        "loop_rate": loop_minutes / loop_s,
    }


def bench_incremental(args, params_all: pd.DataFrame) -> dict:
    """Minute metrics of a daily run: every day recomputed (all minutes read) vs the
    last day only (``rules.summaries``: only its minutes read, the other days' summaries
    stored), chunk by chunk."""
    rng = np.random.default_rng(3)
    chunk = 10
    full_s = incremental_s = 0.0
    last_day = FIRST + np.timedelta64(args.days - 1, "D")
    for first in range(0, args.incremental_patients, chunk):
        size = min(chunk, args.incremental_patients - first)
        frame = minute_frame(first, size, args.days, rng)
        frame["patient_id"] = frame["patient_id"].astype(str)
        params = params_all.iloc[first : first + size]
        t = time.perf_counter()
        every = interval_day_metrics(frame, params)
        full_s += time.perf_counter() - t
        kept = every[every["local_date"] < last_day]
        changed = frame[frame["local_date"] == last_day].reset_index(drop=True)
        del frame
        plan = Plan([], pd.DataFrame(), params["cadence_threshold"], kept)
        t = time.perf_counter()
        metrics, recomputed = day_metrics_with(plan, changed, params)
        incremental_s += time.perf_counter() - t
        assert len(recomputed) == size and len(metrics) == len(every)
    scale = args.patients / args.incremental_patients
    return {"full": full_s * scale, "incremental": incremental_s * scale}


def loop_bouts(rng, args) -> tuple[int, float]:
    """The same bout rule as a plain scan per day: the per-patient baseline."""
    steps = minute_steps(rng, args.loop_patients * 10)  # 10 days each keeps it short
    t = time.perf_counter()
    for day in steps.tolist():
        naive_day_bouts(day)
    return steps.size, time.perf_counter() - t


def naive_day_bouts(day: list[int], threshold: int = 100) -> int:
    """Walking minutes of one day: extend a bout while the 5-run and 20% limits hold."""
    walking, i, n = 0, 0, len(day)
    while i < n:
        if day[i] < threshold:
            i += 1
            continue
        end, below, run, j = i, 0, 0, i
        while j < n:
            if day[j] >= threshold:
                run = 0
                end = j
            else:
                run += 1
                below += 1
                if run >= 5:
                    break
            j += 1
        length = end - i + 1
        inside_below = below - (j - end - 1 if j < n else n - 1 - end)
        if length >= 10 and inside_below <= 0.2 * length:
            walking += length
        i = end + 1
    return walking


def day_inputs(patients: int, days: int, rng) -> tuple:
    """Per-day inputs for the whole population, as the day view and step 1 give them."""
    ids = np.array([f"B{p:05d}" for p in range(patients)], dtype=object)
    pid = pd.Categorical.from_codes(np.repeat(np.arange(patients), days), ids)
    local_date = np.tile(FIRST + np.arange(days).astype("timedelta64[D]"), patients).astype(
        "datetime64[ns]"
    )
    n = patients * days
    worn = rng.random(n) > 0.08
    walking = np.where(rng.random(n) < 0.6, rng.integers(10, 60, n), 0) * worn
    steps = (rng.normal(5500, 1500, n).clip(300) + walking * 110) * worn
    steps[rng.random(n) < 0.003] *= 4  # the odd boom day
    keep = worn
    m = int(keep.sum())
    counted = steps[keep].astype(np.int64)
    day_view = pd.DataFrame(
        {
            "patient_id": pid[keep],
            "local_date": local_date[keep],
            "steps": counted,
            "source": pd.Categorical.from_codes(np.zeros(m, dtype=int), ["csv/bench"]),
            "basis": pd.Categorical.from_codes(np.zeros(m, dtype=int), ["intervals"]),
            "interval_steps": counted,
            "daily_total_steps": pd.arrays.IntegerArray(
                np.zeros(m, dtype=np.int64), np.ones(m, dtype=bool)
            ),
            "provisional": np.zeros(m, dtype=bool),
        }
    )
    walked = walking[keep].astype(np.int32)
    metrics = pd.DataFrame(
        {
            "patient_id": pid[keep],
            "local_date": local_date[keep],
            "wear_hours": np.where(rng.random(m) < 0.9, 14, 6).astype(np.int32),
            "walking_minutes": walked,
            "bouts": (walked > 0).astype(np.int32),
            "longest_bout": walked,
            "intraday_minutes": np.full(m, WORN, dtype=np.int32),
            "implausible_minutes": np.zeros(m, dtype=np.int32),
            "implausible_steps": np.zeros(m, dtype=np.int64),
        }
    )
    assert list(metrics.columns[2:]) == INTERVAL_METRIC_COLUMNS
    today = FIRST + np.timedelta64(days - 1, "D")
    calendar = calendar_frame(list(ids), [FIRST] * patients, [today] * patients, [today] * patients)
    pain_rows = rng.random(n) < 0.05
    pain = pd.DataFrame(
        {
            "patient_id": pid[pain_rows],
            "local_time": local_date[pain_rows] + np.timedelta64(9, "h"),
            "score": rng.choice([1, 2, 3, 3, 4, 7], pain_rows.sum()),
        }
    )
    now = pd.Timestamp(today, tz="UTC") + pd.Timedelta(hours=12)
    sync = pd.DataFrame(
        {
            "patient_id": ids,
            "now": now,
            "active_link": True,
            "last_data_at": now - pd.to_timedelta(rng.integers(1, 200, patients), unit="h"),
            "last_data_date": str(today),
            "revoked": rng.random(patients) < 0.01,
            "revoked_date": str(today),
        }
    )[SYNC_COLUMNS]
    return day_view, metrics, calendar, pain, sync


def day_rules(day_view, metrics, params, calendar, pain, sync) -> tuple[pd.DataFrame, dict]:
    timings = {}
    t = time.perf_counter()
    table = day_metrics(day_view, metrics, params, calendar)
    timings["day metrics"] = time.perf_counter() - t
    t = time.perf_counter()
    flares = flare_days(pain, params)
    no_overrides = pd.DataFrame(columns=["patient_id", "week_start", "level"])
    days, plan, _ = run_programme(table, params, calendar["first_date"], flares, no_overrides)
    del table  # as rules.evaluate.run_rules does
    timings["programme"] = time.perf_counter() - t
    t = time.perf_counter()
    exempt = pd.DataFrame({"patient_id": [], "local_date": pd.to_datetime([])})
    found = findings_for(
        days,
        plan,
        params,
        flares,
        exempt,
        sync.set_index("patient_id"),
        calendar["today"],
        calendar["start"],
    )
    timings["findings"] = time.perf_counter() - t
    return found, timings


def loop_day_rules(day_view: pd.DataFrame, patients: list[str], days: int) -> float:
    """Per patient, in plain Python: status, 7-day median ceiling, overdoing,
    boom-bust, inactive streaks, completeness and weekly walk counts."""
    t = time.perf_counter()
    by_patient = {p: g for p, g in day_view.groupby("patient_id") if p in set(patients)}
    for patient in patients:
        rows = by_patient[patient]
        steps = dict(zip(rows["local_date"], rows["steps"], strict=True))
        dates = [FIRST + np.timedelta64(k, "D") for k in range(days)]
        series = [int(steps.get(pd.Timestamp(d), 0)) for d in dates]
        valid = [s >= 1500 for s in series]
        over, streak, findings = [], 0, 0
        for k, s in enumerate(series):
            window = [series[j] for j in range(max(0, k - 7), k) if valid[j]]
            median = statistics.median(window) if len(window) >= 3 else None
            over.append(median is not None and s > 2 * median)
            if (
                k >= 2
                and over[k - 2]
                and median
                and all(series[j] < 0.5 * median for j in (k - 1, k))
            ):
                findings += 1
            streak = streak + 1 if valid[k] and s < 3000 else 0
            findings += streak == 3
            if k >= 30 and sum(1 for j in range(k - 30, k) if series[j] > 0) < 16:
                findings += 1
        for week in range(days // 7):
            done = sum(1 for s in series[week * 7 : week * 7 + 7] if s > 7000)
            findings += done <= 1
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--minute-patients", type=int, default=200)
    parser.add_argument("--loop-patients", type=int, default=100)
    parser.add_argument("--incremental-patients", type=int, default=50)
    parser.add_argument("--full", action="store_true", help="parts 1 and 3 on every patient")
    args = parser.parse_args()
    if args.full:
        args.minute_patients = args.incremental_patients = args.patients
    rng = np.random.default_rng(7)
    config = load_programme()
    ids = [f"B{p:05d}" for p in range(args.patients)]
    params = params_frame(dict.fromkeys(ids, config))

    print(f"rules benchmark: {args.patients:,} patients x {args.days} days")
    minutes = bench_minutes(args, params)
    full_minutes = args.patients * args.days * WORN
    print(
        f"  bout detection: {minutes['detect_rate'] / 1e6:,.1f} M minutes/s "
        f"({minutes['minutes']:,} minutes of {args.minute_patients} patients); "
        f"plain Python scan: {minutes['loop_rate'] / 1e6:,.2f} M minutes/s "
        f"-> {minutes['detect_rate'] / minutes['loop_rate']:,.0f}x"
    )
    print(
        f"  minute -> day metrics (wear, bouts, implausible): "
        f"{minutes['metrics_rate'] / 1e6:,.1f} M minutes/s; all {full_minutes / 1e9:.2f} G "
        f"minutes of the population: ~{full_minutes / minutes['metrics_rate']:,.0f} s "
        "(extrapolated, chunked, done as data arrives)"
    )

    day_view, metrics, calendar, pain, sync = day_inputs(args.patients, args.days, rng)
    t = time.perf_counter()
    found, timings = day_rules(day_view, metrics, params, calendar, pain, sync)
    elapsed = time.perf_counter() - t
    parts = ", ".join(f"{k} {v:.2f} s" for k, v in timings.items())
    print(
        f"  day-level rules, {args.patients * args.days:,} patient-days: {elapsed:.2f} s "
        f"({parts}); {len(found):,} findings"
    )
    subset = ids[: args.loop_patients]
    loop_s = loop_day_rules(day_view, subset, args.days) * args.patients / len(subset)
    print(
        f"  per-patient Python loop (simpler rules; {len(subset)} patients, extrapolated): "
        f"{loop_s:.1f} s -> {loop_s / elapsed:.1f}x"
    )
    minute = bench_incremental(args, params)
    full_run, daily_run = minute["full"] + elapsed, minute["incremental"] + elapsed
    print(
        f"  daily evaluate, only the last day changed ({args.incremental_patients} patients' "
        f"minutes, extrapolated): minute metrics {minute['incremental']:.1f} s vs full "
        f"recompute {minute['full']:.1f} s -> {minute['full'] / minute['incremental']:.1f}x; "
        f"with the day-level rules: {daily_run:.1f} s vs {full_run:.1f} s "
        f"-> {full_run / daily_run:.1f}x"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  peak memory (max RSS): {peak:,.0f} MiB")
    goal = "met" if elapsed < 5 and peak < 1024 else "NOT met"
    print(f"  goal (< 5 s day-level, < 1 GiB): {goal}")
    goal = "met" if full_run / daily_run >= 20 and peak < 1024 else "NOT met"
    print(f"  goal (daily run >= 20x cheaper than a full recompute, < 1 GiB): {goal}")


if __name__ == "__main__":
    main()
