"""The day view: one figure per patient per local day, never adding two sources up.

Where sources overlap in time, the patient's preferred source wins per interval
and every overlapping interval of a less preferred source is dropped whole (a
15-minute bucket half-covered by a preferred watch is not split: its minutes
cannot be apportioned honestly). Sources rank by the first matching
"provider/device" pattern in the patient's ``source_priority`` or the configured
default; ties break by name so the choice is stable.

A day with intervals takes its steps from the merged intervals; a day with only
a provider's daily total takes that total (the most preferred provider's) and
says so in ``basis``. ``source`` names what the figure came from.

Frames: instants are ``datetime64[ns, UTC]``, ``local_date`` is ``datetime64``
at midnight (naive, the wearer's calendar date).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from fnmatch import fnmatchcase

import numpy as np
import pandas as pd
from sqlalchemy import String, cast, select
from sqlalchemy.orm import Session

from core.schema import MAX_UTC_OFFSET_S
from ingest.models import INTERVAL_COLUMNS as TABLE_COLUMNS
from ingest.models import DailyTotalRow, Patient, StepIntervalRow

# An interval frame leads with its source (patient, provider, device), then the
# table's other columns in table order.
_SOURCE = ("patient_id", "provider", "device")
INTERVAL_COLUMNS = [*_SOURCE, *(c for c in TABLE_COLUMNS if c not in _SOURCE)]
DAY_COLUMNS = [
    "patient_id",
    "local_date",
    "steps",
    "source",
    "basis",
    "interval_steps",
    "daily_total_steps",
    "provisional",
]
# Which source wins where sources overlap, unless settings or the patient say otherwise.
DEFAULT_SOURCE_PRIORITY = ("garmin/*", "google-health/*", "fitbit-export/*", "csv/*")
_MAX_OFFSET = timedelta(seconds=MAX_UTC_OFFSET_S)
# Keeps each patient's timeline apart when all patients are merged at once.
_PATIENT_SPAN_S = 1 << 34
# Bound parameters per query stay well inside every backend's limit.
_IDS_PER_QUERY = 1000


def source_rank(provider: str, device: str, patterns: Sequence[str]) -> int:
    """Position of the first pattern matching "provider/device"; unmatched rank last."""
    key = f"{provider}/{device}"
    for index, pattern in enumerate(patterns):
        if fnmatchcase(key, pattern):
            return index
    return len(patterns)


def _source_order(
    intervals: pd.DataFrame, priorities: Mapping[str, Sequence[str]], default: Sequence[str]
) -> np.ndarray:
    """A dense per-patient order of sources: 0 = most preferred."""
    sources = intervals[["patient_id", "provider", "device"]].drop_duplicates()
    sources["rank"] = [
        source_rank(prov, dev, priorities.get(pid) or default)
        for pid, prov, dev in sources.itertuples(index=False)
    ]
    sources = sources.sort_values(["patient_id", "rank", "provider", "device"])
    sources["order"] = sources.groupby("patient_id").cumcount()
    keyed = intervals[["patient_id", "provider", "device"]].merge(
        sources, on=["patient_id", "provider", "device"], how="left"
    )
    return keyed["order"].to_numpy()


def _union(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint, sorted cover of the given half-open intervals."""
    if len(starts) == 0:
        return starts, ends
    order = np.argsort(starts, kind="stable")
    s, e = starts[order], ends[order]
    reach = np.maximum.accumulate(e)
    opens = np.ones(len(s), dtype=bool)
    opens[1:] = s[1:] > reach[:-1]
    first = np.flatnonzero(opens)
    return s[first], np.maximum.reduceat(e, first)


def _overlaps(cover_s: np.ndarray, cover_e: np.ndarray, s: np.ndarray, e: np.ndarray) -> np.ndarray:
    if len(cover_s) == 0:
        return np.zeros(len(s), dtype=bool)
    index = np.searchsorted(cover_e, s, side="right")
    inside = index < len(cover_s)
    hit = np.zeros(len(s), dtype=bool)
    hit[inside] = cover_s[index[inside]] < e[inside]
    return hit


def merge_sources(
    intervals: pd.DataFrame,
    priorities: Mapping[str, Sequence[str]] | None = None,
    default: Sequence[str] = (),
) -> pd.DataFrame:
    """Keep, per patient, only intervals no more-preferred source overlaps.

    Vectorised across all patients at once: the loop runs once per source
    level (a handful), not per patient or per interval.
    """
    if intervals.empty:
        return intervals.copy()
    priorities = priorities or {}
    order = _source_order(intervals, priorities, default)
    codes = pd.factorize(intervals["patient_id"])[0].astype(np.int64) * _PATIENT_SPAN_S
    starts = intervals["start_utc"].to_numpy("datetime64[s]").astype(np.int64) + codes
    ends = intervals["end_utc"].to_numpy("datetime64[s]").astype(np.int64) + codes

    keep = np.zeros(len(intervals), dtype=bool)
    cover_s = cover_e = np.empty(0, dtype=np.int64)
    for level in range(int(order.max()) + 1):
        candidates = np.flatnonzero(order == level)
        if len(candidates) == 0:
            continue
        accepted = candidates[~_overlaps(cover_s, cover_e, starts[candidates], ends[candidates])]
        keep[accepted] = True
        cover_s, cover_e = _union(
            np.concatenate([cover_s, starts[accepted]]), np.concatenate([cover_e, ends[accepted]])
        )
    return intervals[keep].reset_index(drop=True)


def _sources_by_contribution(frame: pd.DataFrame) -> pd.Series:
    per_source = (
        frame.assign(source=frame["provider"] + "/" + frame["device"])
        .groupby(["patient_id", "local_date", "source"], sort=False)["steps"]
        .sum()
        .reset_index()
        .sort_values(
            ["patient_id", "local_date", "steps", "source"], ascending=[True, True, False, True]
        )
    )
    return per_source.groupby(["patient_id", "local_date"], sort=False)["source"].agg("+".join)


def _preferred_totals(
    totals: pd.DataFrame, priorities: Mapping[str, Sequence[str]], default: Sequence[str]
) -> pd.DataFrame:
    if totals.empty:
        return totals
    ranked = totals.assign(
        rank=[
            source_rank(prov, "", priorities.get(pid) or default)
            for pid, prov in zip(totals["patient_id"], totals["provider"], strict=True)
        ]
    )
    best = ranked.sort_values(["patient_id", "local_date", "rank", "provider"])
    return best.drop_duplicates(["patient_id", "local_date"], keep="first")


def interval_days(merged: pd.DataFrame) -> pd.DataFrame:
    """Per patient and local date of the merged intervals: their steps and sources."""
    keys = ["patient_id", "local_date"]
    if merged.empty:
        return pd.DataFrame(
            {
                "patient_id": pd.Series(dtype=object),
                "local_date": pd.Series(dtype="datetime64[ns]"),
                "interval_steps": pd.Series(dtype="int64"),
                "interval_source": pd.Series(dtype=object),
            }
        )
    return (
        merged.groupby(keys, sort=False)["steps"]
        .sum()
        .rename("interval_steps")
        .to_frame()
        .join(_sources_by_contribution(merged).rename("interval_source"))
        .reset_index()
    )


def combine_days(
    merged: pd.DataFrame,
    totals: pd.DataFrame,
    priorities: Mapping[str, Sequence[str]] | None = None,
    default: Sequence[str] = (),
) -> pd.DataFrame:
    """Per patient and local date: steps, where they came from, and on what basis."""
    return combine_day_figures(interval_days(merged), totals, priorities, default)


def combine_day_figures(
    from_intervals: pd.DataFrame,
    totals: pd.DataFrame,
    priorities: Mapping[str, Sequence[str]] | None = None,
    default: Sequence[str] = (),
) -> pd.DataFrame:
    """``combine_days`` from the per-day interval figures (``interval_days`` rows, which
    may come from stored day summaries) rather than the intervals themselves."""
    priorities = priorities or {}
    keys = ["patient_id", "local_date"]
    best = _preferred_totals(totals, priorities, default)
    if best.empty:  # typed, so that it merges with typed interval figures
        from_totals = pd.DataFrame(
            {
                "patient_id": pd.Series(dtype=object),
                "local_date": pd.Series(dtype="datetime64[ns]"),
                "daily_total_steps": pd.Series(dtype="int64"),
                "total_provider": pd.Series(dtype=object),
                "provisional": pd.Series(dtype=bool),
            }
        )
    else:
        from_totals = best.rename(
            columns={"steps": "daily_total_steps", "provider": "total_provider"}
        )[[*keys, "daily_total_steps", "total_provider", "provisional"]]
    days = from_intervals.merge(from_totals, on=keys, how="outer")
    has_intervals = days["interval_steps"].notna()
    days["steps"] = days["interval_steps"].where(has_intervals, days["daily_total_steps"])
    days["basis"] = np.where(has_intervals, "intervals", "daily_total")
    days["source"] = days["interval_source"].where(
        has_intervals, days["total_provider"] + " (daily total)"
    )
    days["provisional"] = days["provisional"].astype("boolean").fillna(False).astype(bool)
    for column in ("steps", "interval_steps", "daily_total_steps"):
        days[column] = days[column].astype("Int64")
    return days[DAY_COLUMNS].sort_values(keys).reset_index(drop=True)


# --- loading from the database -------------------------------------------------


def _as_text(column):
    """Dates and instants come back as ISO text and are parsed column-wise by pandas:
    several times faster than converting each value to a Python datetime first."""
    return cast(column, String).label(column.name)


def _frame(session: Session, query, columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame([tuple(row) for row in session.execute(query)], columns=columns)


def _as_utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")


def _as_day(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values, format="ISO8601").astype("datetime64[ns]")


def _filtered(query, column, patient_ids, first, last, instant=None):
    """Restrict to patients and local dates; ``instant`` (a UTC column) lets the index
    narrow the scan, since a local date lies within 14 h of its UTC date."""
    if patient_ids is not None:
        query = query.where(column.table.c.patient_id.in_(list(patient_ids)))
    if first is not None:
        query = query.where(column >= first)
        if instant is not None:
            query = query.where(instant >= _utc_midnight(first) - _MAX_OFFSET)
    if last is not None:
        query = query.where(column <= last)
        if instant is not None:
            query = query.where(instant < _utc_midnight(last) + timedelta(days=1) + _MAX_OFFSET)
    return query


def _utc_midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time(), UTC)


def patient_priorities(session: Session, patient_ids: Sequence[str] | None) -> dict[str, list]:
    query = select(Patient.id, Patient.source_priority).where(Patient.source_priority.is_not(None))
    if patient_ids is not None:
        query = query.where(Patient.id.in_(list(patient_ids)))
    return {pid: list(patterns) for pid, patterns in session.execute(query) if patterns}


def read_intervals(
    session: Session,
    patient_ids: Sequence[str] | None = None,
    first: date | None = None,
    last: date | None = None,
) -> pd.DataFrame:
    """Every stored interval (all sources, unmerged) in the local-date range."""
    table = StepIntervalRow.__table__
    temporal = {"start_utc", "end_utc", "local_date"}
    query = _filtered(
        select(*(_as_text(table.c[c]) if c in temporal else table.c[c] for c in INTERVAL_COLUMNS)),
        table.c.local_date,
        patient_ids,
        first,
        last,
        instant=table.c.start_utc,
    )
    frame = _frame(session, query, INTERVAL_COLUMNS)
    for column in ("start_utc", "end_utc"):
        frame[column] = _as_utc(frame[column])
    frame["local_date"] = _as_day(frame["local_date"])
    for column in ("utc_offset_s", "steps", "resolution_s"):
        frame[column] = frame[column].astype("int64")
    return frame


def read_intervals_on(session: Session, wanted: pd.DataFrame) -> pd.DataFrame:
    """Every stored interval of exactly the ``wanted`` (patient_id, local_date) days.

    Patients are read in groups sharing their first and last wanted date, so a daily
    run (everyone's last day or two) is a few range scans, not one query per day."""
    if wanted.empty:
        return read_intervals(session, [])
    days = wanted[["patient_id", "local_date"]].drop_duplicates()
    spans = days.groupby("patient_id")["local_date"].agg(["min", "max"])
    parts = []
    for (first, last), group in spans.groupby(["min", "max"]):
        ids = list(group.index)
        for lo in range(0, len(ids), _IDS_PER_QUERY):
            chunk = ids[lo : lo + _IDS_PER_QUERY]
            parts.append(read_intervals(session, chunk, first.date(), last.date()))
    frame = pd.concat(parts, ignore_index=True)
    keep = frame[["patient_id", "local_date"]].merge(days, how="left", indicator=True)
    return frame[keep["_merge"].to_numpy() == "both"].reset_index(drop=True)


def read_daily_totals(
    session: Session,
    patient_ids: Sequence[str] | None = None,
    first: date | None = None,
    last: date | None = None,
) -> pd.DataFrame:
    table = DailyTotalRow.__table__
    columns = ["patient_id", "provider", "local_date", "steps", "provisional", "fetched_at"]
    temporal = {"local_date", "fetched_at"}
    query = _filtered(
        select(*(_as_text(table.c[c]) if c in temporal else table.c[c] for c in columns)),
        table.c.local_date,
        patient_ids,
        first,
        last,
    )
    frame = _frame(session, query, columns)
    frame["local_date"] = _as_day(frame["local_date"])
    frame["fetched_at"] = _as_utc(frame["fetched_at"])
    frame["steps"] = frame["steps"].astype("int64")
    frame["provisional"] = frame["provisional"].astype(bool)
    return frame


@dataclass(frozen=True, slots=True)
class DayView:
    raw: pd.DataFrame  # every stored interval, all sources
    merged: pd.DataFrame  # the intervals that count (never adding sources up)
    totals: pd.DataFrame  # every provider's own daily totals
    days: pd.DataFrame  # one row per patient and local date (DAY_COLUMNS)


def load(
    session: Session,
    patient_ids: Sequence[str] | None = None,
    first: date | None = None,
    last: date | None = None,
    default_priority: Sequence[str] = DEFAULT_SOURCE_PRIORITY,
) -> DayView:
    """The day view of the patients and local-date range, read once."""
    priorities = patient_priorities(session, patient_ids)
    raw = read_intervals(session, patient_ids, first, last)
    merged = merge_sources(raw, priorities, default_priority)
    totals = read_daily_totals(session, patient_ids, first, last)
    days = combine_days(merged, totals, priorities, default_priority)
    return DayView(raw, merged, totals, days)
