"""A sync-sized batch on PostgreSQL in one round trip.

A routine sync writes a few minutes to a few hours of one account's steps, a
few daily totals and its devices. Checking what is stored first, then a COPY in
a savepoint, then the totals, the dirty days and the devices cost seven round
trips and as many statements' worth of client CPU. Here each table takes one
``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE`` that writes only new
and changed rows and, in the same statement, marks the days those rows change
dirty for the rules; the statements go out as one libpq pipeline. The rows
travel as one JSON array per table (``orjson``, which writes datetimes as RFC
3339): about a tenth of the client CPU of psycopg adapting them as arrays,
element by element in Python. A concurrent writer of the same keys is simply a
conflict, so no savepoint is needed. Larger batches (a full day's re-read,
imports) keep :mod:`ingest.store`'s COPY path, the bulk-load ceiling, and send
the rest through here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

import orjson
from sqlalchemy import Date, DateTime, Integer, String
from sqlalchemy.orm import Session

from core.schema import DailyTotal, DeviceInfo
from ingest.models import INTERVAL_COLUMNS, INTERVAL_KEY, StepIntervalRow

# Rows up to which a batch takes this path. A routine sync's tens of rows cost both
# the worker and the server less here; from about 150 to 300 rows the two paths cost
# client + server about the same, and beyond, the server's per-row INSERT work (2-3x
# COPY's) outweighs the client's saving (bench/write_paths.py).
MAX_ROWS = 200

# Each step_intervals column's PostgreSQL type, read off the table (binary COPY
# names them too).
_TYPE_NAMES = {String: "text", DateTime: "timestamptz", Date: "date", Integer: "int4"}
INTERVAL_TYPES = tuple(
    next(name for kind, name in _TYPE_NAMES.items() if isinstance(stored, kind))
    for stored in (getattr(c.type, "impl", c.type) for c in StepIntervalRow.__table__.columns)
)


def _rows(types: tuple[str, ...]) -> str:
    """SELECT the rows of a JSON array of arrays parameter, column ``i`` as ``types[i]``."""
    columns = ", ".join(f"(r->>{i})::{kind}" for i, kind in enumerate(types))
    return f"SELECT {columns} FROM json_array_elements(%s::json) AS r"


def _marking(changed: str, days: str | None = None) -> str:
    """The tail of a statement whose CTE ``changed`` returned (patient_id, local_date):
    mark those days (or the ``days`` query's) dirty, and answer how many rows were
    written."""
    return (
        f", marked AS (INSERT INTO dirty_days (patient_id, local_date) "
        f"SELECT DISTINCT patient_id, local_date FROM ({days or f'TABLE {changed}'}) AS d "
        f"ON CONFLICT DO NOTHING) SELECT count(*) FROM {changed}"
    )


_VALUES = INTERVAL_COLUMNS[len(INTERVAL_KEY) :]
_COLUMNS = ", ".join(INTERVAL_COLUMNS)
_SAME_KEY = " AND ".join(f"s.{c} = b.{c}" for c in INTERVAL_KEY)
# Rows stored already with the same values are left out before the insert: ON
# CONFLICT would lock (and so write) each of them, and a routine sync re-sends
# its overlap's minutes every time. A revision that moves a row to another day
# (a corrected offset) changes the day it leaves too: ``moved`` reads the stored
# rows as they were before this statement, as every part of it does.
_INTERVALS = (
    f"WITH b ({_COLUMNS}) AS ({_rows(INTERVAL_TYPES)}), "
    f"changed AS (INSERT INTO step_intervals ({_COLUMNS}) SELECT * FROM b WHERE NOT EXISTS ("
    f"SELECT 1 FROM step_intervals s WHERE {_SAME_KEY}"
    f" AND ({', '.join('s.' + c for c in _VALUES)}) IS NOT DISTINCT FROM "
    f"({', '.join('b.' + c for c in _VALUES)})) "
    f"ON CONFLICT ({', '.join(INTERVAL_KEY)}) DO UPDATE SET "
    + ", ".join(f"{c} = excluded.{c}" for c in _VALUES)
    + " WHERE "
    + " OR ".join(f"step_intervals.{c} IS DISTINCT FROM excluded.{c}" for c in _VALUES)
    + " RETURNING patient_id, local_date), "
    f"moved AS (SELECT s.patient_id, s.local_date FROM step_intervals s JOIN b ON {_SAME_KEY} "
    "WHERE s.local_date <> b.local_date)"
    + _marking("changed", "TABLE changed UNION ALL TABLE moved")
)
_TOTAL_COLUMNS = "patient_id, provider, local_date, steps, provisional, fetched_at"
_TOTALS = (  # unchanged totals left out first too, as for intervals
    f"WITH changed AS (INSERT INTO daily_totals ({_TOTAL_COLUMNS}) SELECT * FROM ("
    + _rows(("text", "text", "date", "int4", "bool", "timestamptz"))
    + f") AS b ({_TOTAL_COLUMNS}) WHERE NOT EXISTS (SELECT 1 FROM daily_totals s WHERE "
    "s.patient_id = b.patient_id AND s.provider = b.provider AND s.local_date = b.local_date "
    "AND s.steps = b.steps AND s.provisional = b.provisional) "
    "ON CONFLICT (patient_id, provider, local_date) DO UPDATE SET "
    "steps = excluded.steps, provisional = excluded.provisional, "
    "fetched_at = excluded.fetched_at WHERE daily_totals.steps <> excluded.steps "
    "OR daily_totals.provisional <> excluded.provisional "
    "RETURNING patient_id, local_date)" + _marking("changed")
)
_DIRTY = (
    f"INSERT INTO dirty_days (patient_id, local_date) {_rows(('text', 'date'))} "
    "ON CONFLICT DO NOTHING"
)
_DEVICES = (
    "INSERT INTO devices (patient_id, provider, device, platform, form_factor, "
    "manufacturer, first_seen, last_seen) SELECT *, now(), now() FROM ("
    + _rows(("text",) * 6)
    + ") AS d ON CONFLICT (patient_id, provider, device) DO UPDATE SET "
    "platform = excluded.platform, form_factor = excluded.form_factor, "
    "manufacturer = excluded.manufacturer, last_seen = excluded.last_seen"
)


def write_small_batch(
    session: Session,
    intervals: list[tuple],
    totals: list[DailyTotal],
    devices: list[DeviceInfo],
    dirty: Iterable[tuple[str, date]] = (),
) -> tuple[int, int]:
    """Upsert checked interval rows (in ``INTERVAL_COLUMNS`` order), totals and
    devices in ``session``'s transaction; returns (intervals, totals) written.
    ``dirty``: more (patient, day)s to mark, for rows written otherwise (COPY)."""
    connection = session.connection().connection.driver_connection
    interval_rows = connection.cursor()
    total_rows = connection.cursor()
    with connection.pipeline():
        if intervals:
            interval_rows.execute(_INTERVALS, _json(intervals))
        if totals:
            total_rows.execute(_TOTALS, _json(
                (t.patient_id, t.provider, t.local_date, t.steps, t.provisional, t.fetched_at)
                for t in totals
            ))  # fmt: skip
        if dirty:
            connection.cursor().execute(_DIRTY, _json(dirty))
        if devices:
            connection.cursor().execute(_DEVICES, _json(
                (d.patient_id, d.provider, d.device, d.platform, d.form_factor, d.manufacturer)
                for d in devices
            ))  # fmt: skip
    written = interval_rows.fetchone()[0] if intervals else 0
    return written, total_rows.fetchone()[0] if totals else 0


def _json(rows) -> tuple[str]:
    """Rows as the one parameter of :func:`_rows`."""
    return (orjson.dumps(list(rows)).decode(),)
