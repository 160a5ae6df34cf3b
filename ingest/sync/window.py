"""Which local dates a sync asks for.

The first sync back-fills; later ones re-read what may still change (the
look-back, days still settling after a late device upload, days a provider
marked provisional) and fill any gap since the cursor. Dates are the patient's
own calendar dates, so "today" is computed in their zone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from core.clock import local_today, patient_zone
from core.source import DateWindow


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    backfill_days: int = 30
    lookback_days: int = 3
    settle_hours: float = 48
    # The provider's own limit on how far back it serves data; None when unlimited.
    provider_limit_days: int | None = None


def earliest_unsettled(now: datetime, zone: str | None, settle_hours: float) -> date:
    """The first local date whose end lies less than ``settle_hours`` before ``now``."""
    tz = patient_zone(zone)
    settled_before = (now - timedelta(hours=settle_hours)).astimezone(tz)
    # The day containing that instant ends after it, so it is not settled yet.
    return settled_before.date()


def sync_window(
    now: datetime,
    zone: str | None,
    synced_through: date | None,
    earliest_provisional: date | None,
    policy: WindowPolicy,
    since: date | None = None,
) -> DateWindow:
    """The inclusive local-date window to fetch for one account at ``now``."""
    if now.tzinfo is None:
        raise ValueError("now must be an aware datetime")
    today = local_today(now, zone)
    oldest = today - timedelta(days=policy.backfill_days - 1)
    if since is not None:
        first = since
    elif synced_through is None:
        first = oldest
    else:
        candidates = [
            synced_through + timedelta(days=1),
            today - timedelta(days=policy.lookback_days),
            earliest_unsettled(now, zone, policy.settle_hours),
        ]
        if earliest_provisional is not None:
            # A day a provider keeps calling provisional is re-read, but never
            # beyond the back-fill horizon.
            candidates.append(max(earliest_provisional, oldest))
        first = min(candidates)
    if policy.provider_limit_days is not None:
        first = max(first, today - timedelta(days=policy.provider_limit_days - 1))
    return DateWindow(min(first, today), today)
