"""The date range an API caller may ask for: forwards, at most a year, and not past
the patient's today (the rules build every day up to ``to``: a range in year 9999
would be millions of empty days)."""

from __future__ import annotations

from datetime import date

from core.errors import StridewiseError

MAX_DAYS = 366


def checked_range(first: date, last: date, today: date) -> tuple[date, date]:
    if last < first:
        raise StridewiseError("'to' is before 'from'")
    if (last - first).days >= MAX_DAYS:
        raise StridewiseError(f"ask for at most {MAX_DAYS} days at a time")
    if last > today:
        raise StridewiseError(f"'to' is after the patient's today ({today.isoformat()})")
    return first, last
