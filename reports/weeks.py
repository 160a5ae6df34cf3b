"""ISO weeks as people write them: ``2026-W47``."""

from __future__ import annotations

import re
from datetime import date, timedelta

from core.errors import StridewiseError

_WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


def parse_week(value: str) -> date:
    """The Monday of ISO week ``value``."""
    match = _WEEK.match(value)
    if not match:
        raise StridewiseError(f"--week: {value!r} is not an ISO week like 2026-W47")
    try:
        return date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as err:
        raise StridewiseError(f"--week: {value} does not exist ({err})") from err


def week_label(monday: date) -> str:
    year, week, _ = monday.isocalendar()
    return f"{year}-W{week:02d}"


def previous_week(today: date) -> date:
    """Monday of the last whole week before ``today``."""
    return today - timedelta(days=today.weekday() + 7)
