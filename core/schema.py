"""Normalised samples: what every adapter and importer hands to the write path.

These are plain values, not ORM rows, so adapters stay free of the database and
the write path can validate a whole batch before touching it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

MAX_UTC_OFFSET_S = 14 * 3600
MANUAL = "MANUAL"


def local_date_of(start_utc: datetime, utc_offset_s: int) -> date:
    """The calendar date on the wearer's clock when the sample started."""
    return (start_utc.astimezone(UTC) + timedelta(seconds=utc_offset_s)).date()


@dataclass(frozen=True, slots=True)
class StepInterval:
    """Steps counted between two instants, at the source's own resolution."""

    patient_id: str
    provider: str
    device: str
    start: datetime  # aware; any zone, stored as UTC
    end: datetime
    utc_offset_s: int  # the offset the source reported for this very sample
    steps: int
    recording_method: str | None = None

    @property
    def local_date(self) -> date:
        return local_date_of(self.start, self.utc_offset_s)

    @property
    def manual(self) -> bool:
        return self.recording_method == MANUAL


@dataclass(frozen=True, slots=True)
class DailyTotal:
    """A provider's own total for one local day (running total if provisional)."""

    patient_id: str
    provider: str
    local_date: date
    steps: int
    provisional: bool = False
    fetched_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """Provenance of a stream: which device, on which platform, produced it."""

    patient_id: str
    provider: str
    device: str
    platform: str | None = None
    form_factor: str | None = None
    manufacturer: str | None = None


@dataclass(slots=True)
class StepBatch:
    """Everything one fetch or import produced, written in one transaction."""

    intervals: list[StepInterval] = field(default_factory=list)
    daily_totals: list[DailyTotal] = field(default_factory=list)
    devices: list[DeviceInfo] = field(default_factory=list)

    def extend(self, other: StepBatch) -> None:
        self.intervals.extend(other.intervals)
        self.daily_totals.extend(other.daily_totals)
        self.devices.extend(other.devices)
