"""The clock and the one rule for a patient's calendar.

A patient's dates are their own local dates. Until their zone is known (it is
learned when a wearable is linked) they are taken as UTC, everywhere: the sync
window, the rules, the scheduler and the demo all use :func:`patient_zone`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo


def utcnow() -> datetime:
    return datetime.now(UTC)


def patient_zone(name: str | None) -> ZoneInfo:
    """The patient's zone, or UTC while it is unknown."""
    return ZoneInfo(name or "UTC")


def local_today(now: datetime, zone: str | None) -> date:
    """Today's date on the patient's clock."""
    return now.astimezone(patient_zone(zone)).date()
