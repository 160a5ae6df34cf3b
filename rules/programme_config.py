"""Programme settings: the shipped defaults of ``config/programmes/<name>.toml`` with a
patient's own overrides laid over them.

Every number of the walking programme lives here so a therapist can change any of
them for one patient; the rules read them from a per-patient table.
"""

from __future__ import annotations

import dataclasses
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields
from functools import cache
from pathlib import Path

import pandas as pd

from core.errors import StridewiseError

# The programmes that ship with stridewise (config/programmes/<name>.toml).
PROGRAMMES_DIR = Path(__file__).resolve().parents[1] / "config" / "programmes"


@dataclass(frozen=True, slots=True)
class ProgrammeConfig:
    cadence_threshold: int
    cadence_min: int
    cadence_max: int
    cadence_walking_floor: int
    cadence_quantile: float
    cadence_min_minutes: int
    bout_min_minutes: int
    bout_max_below_fraction: float
    bout_max_below_run: int
    valid_wear_hours: int
    valid_daily_total_steps: int
    implausible_minute_steps: int
    implausible_day_steps: int
    settle_hours: int
    baseline_days: int
    baseline_min_valid_days: int
    fallback_minutes_per_walk: int
    fallback_walks_per_week: int
    min_walks_per_week: int
    goal_walks_per_week: int
    start_fraction_of_bout: float
    min_minutes_per_walk: int
    goal_minutes_per_walk: int
    weekly_increase: float
    goal_by_week: int
    ceiling_planned_day_factor: float
    ceiling_median_factor: float
    median_window_days: int
    median_min_valid_days: int
    tolerance_window_days: int
    safe_pain_score: int
    flare_pain_score: int
    flare_rise_over_usual: int
    usual_pain_min_reports: int
    usual_pain_window_reports: int
    boom_bust_fraction: float
    boom_bust_days: int
    under_target_shortfall: int
    under_target_weeks: int
    nudge_day: int
    nudge_fraction: float
    inactive_patient_days: int
    inactive_therapist_days: int
    inactive_steps_fraction: float
    inactive_steps_cap: int
    no_sync_patient_hours: int
    no_sync_therapist_hours: int
    completeness_window_days: int
    completeness_min_days: int
    maintenance_weeks: int
    maintenance_fraction: float
    maintenance_min_minutes_week: int
    min_judged_days_per_week: int
    fresh_patient_days: int
    fresh_therapist_days: int

    def with_overrides(self, overrides: Mapping[str, object] | None) -> ProgrammeConfig:
        """This programme with a therapist's per-patient values; unknown keys are refused."""
        if not overrides:
            return self
        known = {f.name: f for f in fields(self)}
        checked: dict[str, object] = {}
        for key, value in overrides.items():
            if key not in known:
                raise StridewiseError(f"unknown programme setting {key!r}")
            expected = int if known[key].type == "int" else float
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise StridewiseError(f"programme setting {key!r} must be a number >= 0")
            if expected is int and value != int(value):
                raise StridewiseError(f"programme setting {key!r} must be a whole number")
            checked[key] = expected(value)
        return dataclasses.replace(self, **checked)

    @property
    def goal_minutes_per_week(self) -> int:
        return self.goal_walks_per_week * self.goal_minutes_per_walk


@cache
def load_programme(
    name: str = "walkback", programmes_dir: Path = PROGRAMMES_DIR
) -> ProgrammeConfig:
    path = programmes_dir / f"{name}.toml"
    if not path.is_file():
        raise StridewiseError(f"no programme {name!r} (expected {path})")
    with path.open("rb") as handle:
        values = tomllib.load(handle)
    names = {f.name for f in fields(ProgrammeConfig)}
    missing, unknown = names - values.keys(), values.keys() - names
    if missing or unknown:
        raise StridewiseError(
            f"{path}: missing {sorted(missing)} / unknown {sorted(unknown)} settings"
        )
    return ProgrammeConfig(**values)


def patient_config(programme: str, overrides: Mapping[str, object] | None) -> ProgrammeConfig:
    return load_programme(programme).with_overrides(overrides)


def params_frame(
    configs: Mapping[str, ProgrammeConfig], cadence_fixed: Mapping[str, bool] | None = None
) -> pd.DataFrame:
    """One row per patient, one column per setting: what vectorised rules join on.
    ``cadence_fixed``: patients whose therapist set ``cadence_threshold`` (no calibration)."""
    columns = [f.name for f in fields(ProgrammeConfig)]
    rows = [[getattr(cfg, c) for c in columns] for cfg in configs.values()]
    frame = pd.DataFrame(rows, columns=columns, index=pd.Index(list(configs), name="patient_id"))
    frame["goal_minutes_per_week"] = frame["goal_walks_per_week"] * frame["goal_minutes_per_walk"]
    fixed = cadence_fixed or {}
    frame["cadence_fixed"] = [bool(fixed.get(pid, False)) for pid in frame.index]
    return frame
