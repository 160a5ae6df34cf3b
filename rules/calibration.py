"""Walking detection calibrated to the person (principle 1 of "Calibrated to the person").

Free-living cadence sits well below lab cadence: about 100 steps/min marks moderate
intensity, purposeful walking starts around 60-80 (Tudor-Locke et al., Int J Behav
Nutr Phys Act 2018;15:62; CADENCE-Adults 2019). So the threshold that makes a minute
"walking" for bout detection is taken from the patient's own baseline minutes::

    threshold = clamp(5 * round(Q_q(cadence of baseline minutes >= walking_floor) / 5),
                      cadence_min, cadence_max)

with ``q = cadence_quantile`` (0.25: a cadence three in four of their walking minutes
reach), once the baseline holds ``cadence_min_minutes`` such minutes; otherwise the
programme's ``cadence_threshold``. A therapist's ``cadence_threshold`` always wins.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def calibrated_cadence(
    intervals: pd.DataFrame, params: pd.DataFrame, first_date: pd.Series
) -> pd.Series:
    """The walking threshold (steps/min) per patient of ``params``.

    ``intervals``: merged intervals (``steps``, ``resolution_s``, ``local_date``);
    ``first_date``: each patient's first baseline day (``baseline_days`` from it count).
    """
    default = params["cadence_threshold"].astype(np.int64)
    if intervals.empty:
        return default
    minutes = intervals[intervals["resolution_s"] <= 60]
    start = first_date.reindex(minutes["patient_id"]).to_numpy("datetime64[ns]")
    days = params["baseline_days"].reindex(minutes["patient_id"]).to_numpy()
    age = (minutes["local_date"].to_numpy("datetime64[ns]") - start) // np.timedelta64(1, "D")
    cadence = minutes["steps"].to_numpy(float) * 60 / minutes["resolution_s"].to_numpy(float)
    floor = params["cadence_walking_floor"].reindex(minutes["patient_id"]).to_numpy()
    keep = (age >= 0) & (age < days) & (cadence >= floor)
    walking = pd.Series(cadence[keep], index=minutes["patient_id"].to_numpy()[keep])
    if walking.empty:
        return default
    grouped = walking.groupby(level=0)
    q = params["cadence_quantile"]
    quantile = grouped.apply(lambda s: float(np.quantile(s.to_numpy(), q[s.name])))
    enough = grouped.size().reindex(params.index).fillna(0) >= params["cadence_min_minutes"]
    rounded = (5 * np.round(quantile.reindex(params.index) / 5)).clip(
        params["cadence_min"], params["cadence_max"]
    )
    use = enough & ~params["cadence_fixed"].astype(bool) & rounded.notna()
    return default.where(~use, rounded).astype(np.int64)
