"""Minute steps from a Fitbit / Google Takeout data export (zip or unpacked folder).

The export holds one file per day, ``steps-YYYY-MM-DD.json``, each a JSON list
of ``{"dateTime": "01/01/24 00:00:00", "value": "0"}``: minute steps, values as
strings, times on the wearer's local clock with no offset. The patient's zone
(or the one given) turns them into instants; in the repeated hour after a DST
change the second occurrence of a time is the later instant, and a time that
does not exist on that clock is rejected.

Real exports are years long: files are read one at a time (zip members
without unpacking); the application writes them in chunks.
Minutes with 0 steps are not stored: the export fills non-wear with zeros too,
so they carry no information and would multiply the rows.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core.errors import StridewiseError
from core.schema import StepInterval

PROVIDER = "fitbit-export"
DEVICE = "Fitbit"
CHUNK_ROWS = 20_000
MAX_MINUTE_STEPS = 1_000
DAY_FILE = re.compile(r"(?:^|/)steps-(\d{4}-\d{2}-\d{2})\.json$")
TIME_FORMATS = ("%m/%d/%y %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S")


@dataclass(slots=True)
class ExportReport:
    files: int = 0
    minutes: int = 0  # entries read
    accepted: int = 0  # stored (new, revised or unchanged)
    changed: int = 0
    # (file and entry, reason)
    rejected: list[tuple[str, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DayFile:
    name: str
    day: date
    read: Callable[[], bytes]


@contextmanager
def open_export(path: Path) -> Iterator[list[DayFile]]:
    """The export's step files, oldest first; nothing is read until a file's ``read``."""
    if not path.exists():
        raise StridewiseError(f"{path} does not exist")
    if path.is_dir():
        found = [DayFile(f.name, _day(f.name), f.read_bytes) for f in path.rglob("steps-*.json")]
        yield _by_day(found)
        return
    if not zipfile.is_zipfile(path):
        raise StridewiseError(f"{path} is neither a folder nor a zip file")
    with zipfile.ZipFile(path) as archive:
        found = [
            DayFile(member.rsplit("/", 1)[-1], _day(member), _reader(archive, member))
            for member in archive.namelist()
        ]
        yield _by_day(found)


def _by_day(found: list[DayFile]) -> list[DayFile]:
    return sorted((f for f in found if f.day != date.min), key=lambda f: f.day)


def _reader(archive: zipfile.ZipFile, member: str) -> Callable[[], bytes]:
    return lambda: archive.read(member)


def _day(name: str) -> date:
    """The day in a ``steps-YYYY-MM-DD.json`` name; date.min (ignored) for other files."""
    match = DAY_FILE.search(name)
    try:
        return date.fromisoformat(match.group(1)) if match else date.min
    except ValueError:
        return date.min


def _local_time(text: object) -> datetime:
    if not isinstance(text, str):
        raise ValueError(f"dateTime {text!r} is not text")
    for layout in TIME_FORMATS:
        try:
            return datetime.strptime(text, layout)
        except ValueError:
            continue
    raise ValueError(f"dateTime {text!r} is not like '01/31/24 13:05:00'")


def _instant(local: datetime, zone: ZoneInfo, fold: int) -> datetime:
    aware = local.replace(tzinfo=zone, fold=fold)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != local:
        raise ValueError(
            f"{local:%Y-%m-%d %H:%M} does not exist in {zone.key} (clocks went forward)"
        )
    return aware


def parse_day(
    file: DayFile, patient_id: str, zone: ZoneInfo
) -> tuple[list[StepInterval], list[tuple[str, str]], int]:
    """One day file -> intervals with steps, rejections, and how many entries it held."""
    try:
        entries = json.loads(file.read())
    except ValueError:
        return [], [(file.name, "not valid JSON")], 0
    if not isinstance(entries, list):
        return [], [(file.name, "not a JSON list")], 0
    intervals: list[StepInterval] = []
    rejected: list[tuple[str, str]] = []
    seen: set[datetime] = set()
    for index, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise ValueError("not a JSON object")
            local = _local_time(entry.get("dateTime"))
            steps = int(str(entry.get("value")).strip())
            if not 0 <= steps <= MAX_MINUTE_STEPS:
                raise ValueError(f"value {steps} is outside 0..{MAX_MINUTE_STEPS} steps a minute")
            start = _instant(local, zone, fold=1 if local in seen else 0)
        except ValueError as err:
            rejected.append((f"{file.name} entry {index + 1}", str(err)))
            continue
        seen.add(local)
        if steps:
            offset = int(start.utcoffset().total_seconds())
            start_utc = start.astimezone(UTC)
            end_utc = start_utc + timedelta(minutes=1)
            intervals.append(
                StepInterval(patient_id, PROVIDER, DEVICE, start_utc, end_utc, offset, steps)
            )
    return intervals, rejected, len(entries)
