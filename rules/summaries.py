"""Day summaries kept, not recomputed: a daily run reads only the days that changed.

The write path marks the days whose intervals changed dirty
(``ingest.programme_models.DirtyDay``). Each evaluated patient has a
``SummaryBasis``: a digest of what their summaries depend on (settings, source
priority, zone, this module's version), the first baseline day and the walking
threshold calibrated from it. An evaluation then

- reads a patient's whole history when the basis is missing or stale, or when a
  baseline day changed (the calibration must be redone);
- otherwise reads the intervals of the dirty days only (and of any day summarised
  at another threshold), and takes every other day's minute metrics and day-view
  figures from its stored ``DaySummary``.

So the reading and bout detection of a daily run cost in proportion to the days
that changed, not to the history.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from sqlalchemy import String, cast, delete, select, tuple_
from sqlalchemy.orm import Session

from ingest.dayview import interval_days
from ingest.programme_models import DaySummary, DirtyDay, SummaryBasis
from rules.metrics import INTERVAL_METRIC_COLUMNS, interval_day_metrics

# Bump when the minute metrics or the day-view figures change meaning: every stored
# summary is then recomputed on the next evaluation.
SUMMARY_VERSION = 2
FIGURE_COLUMNS = ["interval_steps", "interval_source", "last_end_utc"]
SUMMARY_COLUMNS = ["patient_id", "local_date", "threshold", *INTERVAL_METRIC_COLUMNS]
STORED_COLUMNS = [*SUMMARY_COLUMNS, *FIGURE_COLUMNS]
_KEYS = ["patient_id", "local_date"]
BASIS_COLUMNS = ["digest", "baseline_from", "calibrated_through", "threshold"]
_CHUNK = 500


@dataclass
class Stored:
    """What the database holds for a set of patients, read once per evaluation."""

    summaries: pd.DataFrame  # STORED_COLUMNS, days up to the evaluation's last date
    dirty: pd.DataFrame  # (patient_id, local_date), up to the last date
    bases: pd.DataFrame  # indexed by patient_id: BASIS_COLUMNS

    def data_days(self) -> pd.DataFrame:
        """(patient_id, local_date) of every day known to hold intervals."""
        both = pd.concat([self.summaries[_KEYS], self.dirty], ignore_index=True)
        return both.drop_duplicates()


@dataclass
class Plan:
    """Which intervals to read, and what stays valid from storage."""

    full: list[str]  # patients whose whole history is read and recomputed
    reread: pd.DataFrame  # (patient_id, local_date) days read for the others
    thresholds: pd.Series  # the stored threshold of patients not read in full
    kept: pd.DataFrame  # stored summaries still valid (STORED_COLUMNS)
    bases: pd.DataFrame = field(default_factory=pd.DataFrame)  # to store, by patient_id


def _day_frame(rows, columns: list[str]) -> pd.DataFrame:
    frame = pd.DataFrame([tuple(r) for r in rows], columns=columns)
    frame["local_date"] = pd.to_datetime(frame["local_date"], format="ISO8601").astype(
        "datetime64[ns]"
    )
    return frame


def load(session: Session, ids: list[str], last) -> Stored:
    """The stored summaries, dirty days up to ``last`` and bases of ``ids``."""
    columns = [getattr(DaySummary, c) for c in STORED_COLUMNS]
    columns[1] = cast(DaySummary.local_date, String)
    columns[-1] = cast(DaySummary.last_end_utc, String)
    summaries, dirty, bases = [], [], []
    for lo in range(0, len(ids), 1000):
        chunk = ids[lo : lo + 1000]
        summaries += session.execute(
            select(*columns).where(DaySummary.patient_id.in_(chunk), DaySummary.local_date <= last)
        ).all()
        dirty += session.execute(
            select(DirtyDay.patient_id, cast(DirtyDay.local_date, String)).where(
                DirtyDay.patient_id.in_(chunk), DirtyDay.local_date <= last
            )
        ).all()
        bases += session.execute(
            select(
                SummaryBasis.patient_id,
                SummaryBasis.digest,
                SummaryBasis.baseline_from,
                SummaryBasis.calibrated_through,
                SummaryBasis.threshold,
            ).where(SummaryBasis.patient_id.in_(chunk))
        ).all()
    stored = _day_frame(summaries, STORED_COLUMNS)
    stored["last_end_utc"] = pd.to_datetime(
        stored["last_end_utc"], utc=True, format="ISO8601"
    ).astype("datetime64[ns, UTC]")
    basis = pd.DataFrame(bases, columns=["patient_id", *BASIS_COLUMNS])
    for column in ("baseline_from", "calibrated_through"):
        basis[column] = pd.to_datetime(basis[column]).astype("datetime64[ns]")
    dirty_days = _day_frame(dirty, _KEYS).astype({"patient_id": object})
    return Stored(stored, dirty_days, basis.set_index("patient_id"))


def digests(
    params: pd.DataFrame,
    priorities: Mapping[str, Sequence[str]],
    default: Sequence[str],
    zones: Mapping[str, str | None],
) -> pd.Series:
    """Per patient: a digest of everything their summaries depend on."""
    values = {}
    for pid, row in params.iterrows():
        basis = {
            "version": SUMMARY_VERSION,
            "params": {k: row[k] for k in sorted(row.index) if k != "cadence_threshold"},
            "default_cadence": row["cadence_threshold"],
            "priority": list(priorities.get(pid) or default),
            "zone": zones.get(pid),
        }
        text = json.dumps(basis, sort_keys=True, default=str)
        values[pid] = hashlib.sha256(text.encode()).hexdigest()
    return pd.Series(values, dtype=object)


def _keys(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[_KEYS])


def plan(
    stored: Stored, digest: pd.Series, first_date: pd.Series, params: pd.DataFrame, last
) -> Plan:
    """Decide per patient of ``first_date`` (the calendar's) what to read, for an
    evaluation reading up to the local date ``last``."""
    ids = first_date.index
    bases = stored.bases.reindex(ids)
    start = first_date.to_numpy("datetime64[ns]")
    window = start + params["baseline_days"].reindex(ids).to_numpy().astype("timedelta64[D]")
    seen = calibrated_through(first_date, params, last).to_numpy("datetime64[ns]")
    valid = (
        (bases["digest"].to_numpy() == digest.reindex(ids).to_numpy())
        & (bases["baseline_from"].to_numpy("datetime64[ns]") == start)
        & (bases["calibrated_through"].to_numpy("datetime64[ns]") == seen)
    )
    dirty = stored.dirty[stored.dirty["patient_id"].isin(ids)]
    at = ids.get_indexer(dirty["patient_id"])
    dates = dirty["local_date"].to_numpy("datetime64[ns]")
    in_baseline = (dates >= start[at]) & (dates < window[at])
    valid[np.unique(at[in_baseline])] = False
    full = list(ids[~valid])
    incremental = ids[valid]
    thresholds = bases.loc[incremental, "threshold"].astype(np.int64)

    mine = stored.summaries[stored.summaries["patient_id"].isin(incremental)]
    restated = mine["threshold"].to_numpy() != thresholds.reindex(mine["patient_id"]).to_numpy()
    reread = pd.concat(
        [dirty[dirty["patient_id"].isin(incremental)], mine.loc[restated, _KEYS]],
        ignore_index=True,
    ).drop_duplicates()
    kept = mine[~restated]
    kept = kept[~_keys(kept).isin(_keys(reread))]
    return Plan(full, reread.reset_index(drop=True), thresholds, kept.reset_index(drop=True))


def day_metrics_with(
    plan: Plan | None, merged: pd.DataFrame, params: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every day's minute metrics, the days computed now with their ``threshold``):
    ``merged``'s days are computed, the plan's kept days come from storage."""
    recomputed = interval_day_metrics(merged, params)
    recomputed.insert(
        2, "threshold", params["cadence_threshold"].reindex(recomputed["patient_id"]).to_numpy()
    )
    if plan is None:
        return recomputed.drop(columns="threshold"), recomputed
    metrics = pd.concat([plan.kept, recomputed], ignore_index=True)
    return metrics[["patient_id", "local_date", *INTERVAL_METRIC_COLUMNS]], recomputed


def calibrated_through(first_date: pd.Series, params: pd.DataFrame, last) -> pd.Series:
    """The last baseline day a calibration reading up to ``last`` sees."""
    days = params["baseline_days"].reindex(first_date.index).astype("int64")
    end = first_date + pd.to_timedelta(days - 1, unit="D")
    return end.clip(upper=pd.Timestamp(last))


def figures(plan: Plan | None, merged: pd.DataFrame) -> pd.DataFrame:
    """``ingest.dayview.interval_days`` rows of every day: stored ones and read ones."""
    read = interval_days(merged)
    if plan is None or plan.kept.empty:
        return read
    kept = plan.kept[["patient_id", "local_date", *FIGURE_COLUMNS[:2]]]
    return kept if read.empty else pd.concat([kept, read], ignore_index=True)


def save(
    session: Session,
    plan: Plan,
    stored: Stored,
    recomputed: pd.DataFrame,
    merged: pd.DataFrame,
    raw: pd.DataFrame,
) -> None:
    """Store the recomputed days and the new bases, and clear the dirty marks of the
    patients evaluated (a dirty day without intervals any more loses its summary)."""
    evaluated = [*plan.full, *plan.thresholds.index]
    dirty = stored.dirty[stored.dirty["patient_id"].isin(evaluated)]
    done = pd.concat([recomputed[_KEYS], plan.reread, dirty], ignore_index=True)
    pairs = sorted({(p, d.date()) for p, d in done.itertuples(index=False)})
    key = tuple_(DaySummary.patient_id, DaySummary.local_date)
    dkey = tuple_(DirtyDay.patient_id, DirtyDay.local_date)
    for lo in range(0, len(plan.full), _CHUNK):
        chunk = plan.full[lo : lo + _CHUNK]
        session.execute(delete(DaySummary).where(DaySummary.patient_id.in_(chunk)))
        session.execute(delete(SummaryBasis).where(SummaryBasis.patient_id.in_(chunk)))
    for lo in range(0, len(pairs), _CHUNK):
        chunk = pairs[lo : lo + _CHUNK]
        session.execute(delete(DaySummary).where(key.in_(chunk)))
        session.execute(delete(DirtyDay).where(dkey.in_(chunk)))
    if not plan.bases.empty:
        rows = plan.bases.rename_axis("patient_id").reset_index()
        for column in ("baseline_from", "calibrated_through"):
            rows[column] = rows[column].dt.date
        session.execute(SummaryBasis.__table__.insert(), rows.astype(object).to_dict("records"))
    if recomputed.empty:
        return
    last_end = raw.groupby(_KEYS)["end_utc"].max().rename("last_end_utc").reset_index()
    rows = (
        recomputed[SUMMARY_COLUMNS].merge(interval_days(merged), on=_KEYS).merge(last_end, on=_KEYS)
    )
    rows["local_date"] = rows["local_date"].dt.date
    records = rows.astype(object).to_dict("records")
    for r in records:
        for c in (*SUMMARY_COLUMNS[2:], "interval_steps"):
            r[c] = int(r[c])
    session.execute(DaySummary.__table__.insert(), records)
