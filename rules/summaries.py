"""Day summaries kept, not recomputed: minute metrics only for days that changed.

The write path marks the days whose intervals changed dirty
(``ingest.programme_models.DirtyDay``); an evaluation reuses each stored
``DaySummary`` computed at the patient's current walking threshold, recomputes
dirty, unsummarised or re-thresholded days, stores those and clears their marks,
so the bout detection of a daily run costs in proportion to the days that changed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import delete, select, tuple_
from sqlalchemy.orm import Session

from ingest.programme_models import DaySummary, DirtyDay
from rules.metrics import INTERVAL_METRIC_COLUMNS, interval_day_metrics

SUMMARY_COLUMNS = ["patient_id", "local_date", "threshold", *INTERVAL_METRIC_COLUMNS]


def _keys(frame: pd.DataFrame, params: pd.DataFrame) -> np.ndarray:
    codes, names = pd.factorize(frame["patient_id"])
    rows = params.index.get_indexer(names).astype(np.int64)[codes]
    days = frame["local_date"].to_numpy("datetime64[D]").astype(np.int64)
    return rows * 1_000_000 + days


def cached_metrics(
    merged: pd.DataFrame, params: pd.DataFrame, stored: pd.DataFrame, dirty: pd.DataFrame
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every day's interval metrics, the days recomputed now with their threshold).

    ``stored``: ``SUMMARY_COLUMNS`` rows; ``dirty``: (patient_id, local_date) rows.
    """
    threshold = params["cadence_threshold"]
    current = stored[
        stored["threshold"].to_numpy() == threshold.reindex(stored["patient_id"]).to_numpy()
    ]
    fresh = np.setdiff1d(_keys(current, params), _keys(dirty, params))
    stale = ~np.isin(_keys(merged, params), fresh)
    recomputed = interval_day_metrics(merged[stale], params)
    recomputed.insert(2, "threshold", threshold.reindex(recomputed["patient_id"]).to_numpy())
    kept = current[np.isin(_keys(current, params), fresh)]
    metrics = pd.concat([kept, recomputed], ignore_index=True)[
        ["patient_id", "local_date", *INTERVAL_METRIC_COLUMNS]
    ]
    return metrics, recomputed


def load(session: Session, ids: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The stored summaries and the dirty days of ``ids``."""
    stored = pd.DataFrame(
        session.execute(
            select(*(getattr(DaySummary, c) for c in SUMMARY_COLUMNS)).where(
                DaySummary.patient_id.in_(ids)
            )
        ).all(),
        columns=SUMMARY_COLUMNS,
    )
    dirty = pd.DataFrame(
        session.execute(
            select(DirtyDay.patient_id, DirtyDay.local_date).where(DirtyDay.patient_id.in_(ids))
        ).all(),
        columns=["patient_id", "local_date"],
    )
    for frame in (stored, dirty):
        frame["local_date"] = pd.to_datetime(frame["local_date"]).astype("datetime64[ns]")
    return stored, dirty.astype({"patient_id": object})


def save(session: Session, recomputed: pd.DataFrame, dirty: pd.DataFrame, last) -> None:
    """Store the recomputed days and clear the dirty marks up to the local date ``last``
    (later marks wait for an evaluation that reaches them); a dirty day without
    intervals any more loses its summary."""
    dirty = dirty[dirty["local_date"] <= pd.Timestamp(last)]
    done = pd.concat([recomputed[["patient_id", "local_date"]], dirty], ignore_index=True)
    pairs = sorted({(p, d.date()) for p, d in done.itertuples(index=False)})
    for lo in range(0, len(pairs), 500):
        chunk = pairs[lo : lo + 500]
        key = tuple_(DaySummary.patient_id, DaySummary.local_date)
        session.execute(delete(DaySummary).where(key.in_(chunk)))
        dkey = tuple_(DirtyDay.patient_id, DirtyDay.local_date)
        session.execute(delete(DirtyDay).where(dkey.in_(chunk)))
    if recomputed.empty:
        return
    rows = recomputed[SUMMARY_COLUMNS].copy()
    rows["local_date"] = rows["local_date"].dt.date
    records = rows.astype(object).to_dict("records")
    for r in records:
        for c in SUMMARY_COLUMNS[2:]:
            r[c] = int(r[c])
    session.execute(DaySummary.__table__.insert(), records)
