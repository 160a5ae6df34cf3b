"""Flare days from pain reports (spec, programme rule 4; Silbernagel's pain model).

A report is a flare when its score is ``flare_pain_score`` or more, or at least
``flare_rise_over_usual`` above the patient's usual (median of their last
``usual_pain_window_reports`` earlier reports, once there are
``usual_pain_min_reports`` of them), or when it is a
morning report (before noon, local) worse than the previous day's last report
and above the safe level. No reports means no flares: missing pain data never
holds the programme back.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from rules.programme import trailing_median

FLARE_COLUMNS = ["patient_id", "local_date", "score", "kind", "usual", "previous", "consecutive"]


def flare_days(pain: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """One row per patient-day holding a flare report.

    ``pain`` has ``patient_id``, ``local_time`` (naive local datetime) and ``score``.
    ``consecutive`` is True when the day before was a flare day too.
    """
    if pain.empty:
        return pd.DataFrame(columns=FLARE_COLUMNS).astype({"consecutive": bool})
    frame = pain.sort_values(["patient_id", "local_time"]).reset_index(drop=True)
    p = params.reindex(frame["patient_id"]).reset_index(drop=True)
    usual = pd.Series(
        trailing_median(
            frame["score"].to_numpy(float),
            pd.factorize(frame["patient_id"])[0],
            p["usual_pain_window_reports"].to_numpy(),
            p["usual_pain_min_reports"].to_numpy(),
        )
    )
    frame["local_date"] = frame["local_time"].dt.normalize()
    last_of_day = frame.groupby(["patient_id", "local_date"])["score"].last().rename("previous")
    last_of_day = last_of_day.reset_index()
    last_of_day["local_date"] += pd.Timedelta(days=1)
    frame = frame.merge(last_of_day, on=["patient_id", "local_date"], how="left")
    high = frame["score"] >= p["flare_pain_score"]
    rise = usual.notna() & (frame["score"] >= usual + p["flare_rise_over_usual"])
    worse_morning = (
        (frame["local_time"].dt.hour < 12)
        & (frame["score"] > frame["previous"])
        & (frame["score"] > p["safe_pain_score"])
    )
    frame["kind"] = np.select([high, rise, worse_morning], ["high", "rise", "morning"], "")
    frame["usual"] = usual
    flares = frame[high | rise | worse_morning]
    days = (
        flares.sort_values("score", ascending=False)
        .drop_duplicates(["patient_id", "local_date"])
        .sort_values(["patient_id", "local_date"])
        .reset_index(drop=True)
    )
    before = days["local_date"] - pd.Timedelta(days=1)
    days["consecutive"] = days["patient_id"].eq(days["patient_id"].shift()) & before.eq(
        days["local_date"].shift()
    )
    return days[FLARE_COLUMNS]
