"""A patient's days as records, for the CLI's ``stridewise days`` and the clinic API
(principle 8: not worn is missing, never 0 steps)."""

from __future__ import annotations

from datetime import date

import pandas as pd


def day_records(days: pd.DataFrame, threshold: int, exempt: set[date]) -> list[dict]:
    """One record per day: the status (exempt wins over the wear status), figures only
    where the watch was worn, and the flags the rules raised on it."""
    out = []
    for d in days.itertuples(index=False):
        day = d.local_date.date()
        status = "exempt" if day in exempt else str(d.status).replace("_", "-")
        worn = d.wear_status != "missing"
        flags = [f for f, on in (("overdoing", d.overdoing), ("implausible", d.implausible)) if on]
        out.append(
            {
                "date": day.isoformat(),
                "status": status,
                "wear_hours": int(d.wear_hours) if d.has_intraday else None,
                "steps": int(d.steps) if worn else None,
                "source": str(d.source) or None,
                "walking_minutes": int(d.walking_minutes) if d.has_intraday else None,
                "bouts": int(d.bouts) if d.has_intraday else None,
                "threshold_spm": threshold,
                "flags": flags,
            }
        )
    return out
