"""Splitting a window of local dates into the spans a provider call allows
(Garmin's daily stats: 28 days; Google's daily roll-up: 90)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from core.source import DateWindow


def spans(window: DateWindow, days: int) -> Iterator[DateWindow]:
    """``window`` as consecutive windows of at most ``days`` days, in order."""
    first = window.first
    while first <= window.last:
        last = min(first + timedelta(days=days - 1), window.last)
        yield DateWindow(first, last)
        first = last + timedelta(days=1)
