"""Which local dates a sync asks for, and how much of their minute data.

The first sync back-fills; later ones re-read what may still change (the
look-back, days still settling after a late device upload, days a provider
marked provisional) and fill any gap since the cursor. Dates are the patient's
own calendar dates, so "today" is computed in their zone.

Daily totals are few, so every sync reads the whole window's; minute data is
most of the volume, so a routine sync reads it only from the newest minute
already read (less an overlap: a device uploads in order, so its next upload
starts there however late it comes), from where a webhook said data changed,
and for the days whose total moved (:class:`core.source.MinuteScope`). Once a day, and on
demand, the whole window is read again: a change that moved no total and sent
no webhook (a revised minute, a lost push) is caught there.
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
    # Routine syncs read minute data from the newest minute already read less this
    # (minutes that land a little out of order, clock skew) ...
    overlap_minutes: float = 30
    # ... and the whole window when the last full read is older than this.
    full_read_hours: float = 24


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


def minutes_since(
    now: datetime,
    synced_until: datetime | None,
    changed_from: datetime | None,
    full_read_at: datetime | None,
    policy: WindowPolicy,
) -> datetime | None:
    """The instant a routine sync reads minute data from, or None when this sync
    reads the whole window: the first one, the daily full read, or one on demand
    (``full_read_at`` cleared). Never before the back-fill horizon (a webhook's old
    change, data last seen long ago)."""
    if synced_until is None or full_read_at is None:
        return None
    if now - full_read_at >= timedelta(hours=policy.full_read_hours):
        return None
    since = synced_until - timedelta(minutes=policy.overlap_minutes)
    if changed_from is not None:
        since = min(since, changed_from)
    return max(since, now - timedelta(days=policy.backfill_days))
