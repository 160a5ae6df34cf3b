"""Array helpers every rule shares: per-row settings, the judgeable-day mask, runs,
shifts within a patient, and facts made JSON-safe."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd

from rules.programme_config import ProgrammeConfig

# Every name ``per`` accepts: the programme's settings plus the derived weekly goal.
SETTINGS = frozenset(f.name for f in fields(ProgrammeConfig)) | {"goal_minutes_per_week"}


def per(params: pd.DataFrame, rows: np.ndarray, name: str) -> np.ndarray:
    """Setting ``name`` for each of ``rows`` (positions in ``params``, e.g. the day
    table's ``param_row``); an unknown name is a programming error, caught here."""
    if name not in SETTINGS:
        raise KeyError(f"no programme setting {name!r}")
    return params[name].to_numpy()[rows]


def per_day(params: pd.DataFrame, table: pd.DataFrame, name: str) -> np.ndarray:
    return per(params, table["param_row"].to_numpy(), name)


def judgeable(table: pd.DataFrame) -> np.ndarray:
    """Days a rule may judge: valid (worn enough, settled) and plausible."""
    return ((table["status"] == "valid") & ~table["implausible_day"]).to_numpy()


def group_shift(values: np.ndarray, group: np.ndarray, lag: int) -> np.ndarray:
    """``values`` shifted by ``lag`` rows within each contiguous group (NaN across)."""
    if lag == 0:
        return values.astype(float)
    out = np.full(len(values), np.nan)
    if lag > 0:
        out[lag:] = values[:-lag]
        out[lag:][group[lag:] != group[:-lag]] = np.nan
    else:
        out[:lag] = values[-lag:]
        out[:lag][group[:lag] != group[-lag:]] = np.nan
    return out


def run_starts(*columns: np.ndarray) -> np.ndarray:
    """True where any column differs from the row before (and at row 0): the first
    row of each run; empty for no rows."""
    if not len(columns[0]):
        return np.zeros(0, dtype=bool)
    changed = np.zeros(len(columns[0]) - 1, dtype=bool)
    for column in columns:
        changed |= column[1:] != column[:-1]
    return np.r_[True, changed]


def runs(flags: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Length of the run of True ending at each row (0 where False), per key."""
    index = np.arange(len(flags))
    starts = run_starts(keys)
    marker = np.where(~flags, index, np.where(starts, index - 1, -1))
    return np.where(flags, index - np.maximum.accumulate(marker), 0)


def iso_days(values) -> np.ndarray:
    return pd.to_datetime(pd.Series(values)).dt.strftime("%Y-%m-%d").to_numpy(object)


def week_monday(values) -> pd.Series:
    dates = pd.to_datetime(pd.Series(values).reset_index(drop=True))
    return dates - pd.to_timedelta(dates.dt.day_of_week, unit="D")


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON-safe dicts: dates as ISO strings, numpy numbers as Python ones,
    NaN as None."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if pd.api.types.is_datetime64_any_dtype(column):
            columns[name] = iso_days(column)
        elif pd.api.types.is_bool_dtype(column):
            columns[name] = column.to_numpy(bool).tolist()
        elif pd.api.types.is_integer_dtype(column):
            columns[name] = column.to_numpy(np.int64).tolist()
        elif pd.api.types.is_float_dtype(column):
            values = column.to_numpy(float)
            columns[name] = [None if np.isnan(v) else round(float(v), 2) for v in values]
        else:
            columns[name] = column.tolist()
    names = list(columns)
    return [dict(zip(names, row, strict=True)) for row in zip(*columns.values(), strict=True)]
