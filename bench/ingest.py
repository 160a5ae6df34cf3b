"""Write-path throughput: rows/s for ``write_batch`` on SQLite and PostgreSQL, beside
(a) a naive baseline (ORM objects added one by one, committed per day) and
(b) PostgreSQL binary ``COPY`` of the same rows into the empty ``step_intervals``
table (the practical ceiling), and into a bare copy of it without the foreign key
to ``patients`` (what the per-row foreign-key check costs).

    python bench/ingest.py [--patients 20] [--days 30] [--naive-days 2]

Targets: >= 10x the naive baseline; >= 0.5x the COPY rate on PostgreSQL.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

# This script shares its name with the ``ingest`` package: keep its own folder off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

from sqlalchemy import text  # noqa: E402

from core.schema import StepBatch, StepInterval  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.models import Patient, StepIntervalRow, Therapist  # noqa: E402
from ingest.pg_batch import INTERVAL_TYPES  # noqa: E402
from ingest.store import write_batch  # noqa: E402
from sandbox.walker import Walker  # noqa: E402

PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


def generate(patients: int, days: int) -> dict[str, list[StepInterval]]:
    walker = Walker(seed=1)
    first = date(2026, 3, 1)
    data: dict[str, list[StepInterval]] = {}
    for p in range(patients):
        pid, zone = f"B{p:05d}", ZONES[p % len(ZONES)]
        data[pid] = [
            StepInterval(
                pid,
                "csv",
                "bench",
                m.start_utc,
                m.start_utc + timedelta(minutes=1),
                m.utc_offset_s,
                m.steps,
            )
            for d in range(days)
            for m in walker.day(pid, first + timedelta(days=d), zone)
        ]
    return data


def prepared(url: str, patient_ids: list[str]):
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    with transaction(factory) as session:
        session.add(Therapist(id="T", name="bench", email="bench@example.org"))
        session.flush()
        session.add_all(
            Patient(id=p, name=p, timezone="UTC", therapist_id="T", overrides={})
            for p in patient_ids
        )
    return engine, factory


def write_path(factory, data) -> tuple[int, float]:
    rows, t0 = 0, time.perf_counter()
    for intervals in data.values():
        with transaction(factory) as session:
            rows += write_batch(session, StepBatch(intervals=intervals)).intervals_changed
    return rows, time.perf_counter() - t0


def naive(factory, data, days: int) -> tuple[int, float]:
    """ORM objects one by one, one commit per patient-day: how it is often first written."""
    rows, t0 = 0, time.perf_counter()
    for intervals in data.values():
        per_day = defaultdict(list)
        for row in intervals:
            per_day[row.local_date].append(row)
        for day in sorted(per_day)[:days]:
            with factory() as session:
                for r in per_day[day]:
                    session.add(
                        StepIntervalRow(
                            patient_id=r.patient_id,
                            provider=r.provider,
                            device=r.device,
                            start_utc=r.start,
                            end_utc=r.end,
                            utc_offset_s=r.utc_offset_s,
                            local_date=r.local_date,
                            steps=r.steps,
                            resolution_s=60,
                            recording_method=None,
                        )
                    )
                    rows += 1
                session.commit()
    return rows, time.perf_counter() - t0


def pg_copy(engine, data, table: str) -> tuple[int, float]:
    """The ceiling: binary COPY of the same rows into an empty ``table``."""
    rows, t0 = 0, time.perf_counter()
    for intervals in data.values():
        with engine.begin() as conn:
            cursor = conn.connection.driver_connection.cursor()
            with cursor.copy(f"COPY {table} FROM STDIN (FORMAT BINARY)") as copy:
                copy.set_types(INTERVAL_TYPES)
                for r in intervals:
                    copy.write_row(
                        (
                            r.patient_id,
                            r.start,
                            r.provider,
                            r.device,
                            r.end,
                            r.utc_offset_s,
                            r.local_date,
                            r.steps,
                            60,
                            None,
                        )
                    )
                    rows += 1
    return rows, time.perf_counter() - t0


def rate(result: tuple[int, float]) -> float:
    return result[0] / result[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument(
        "--naive-days", type=int, default=2, help="patient-days per patient for the slow baseline"
    )
    args = parser.parse_args()

    t0 = time.perf_counter()
    data = generate(args.patients, args.days)
    total = sum(map(len, data.values()))
    print(
        f"generated {total:,} minute rows ({args.patients} patients x {args.days} days) "
        f"in {time.perf_counter() - t0:.1f} s"
    )
    results: dict[str, tuple[int, float]] = {}

    with tempfile.TemporaryDirectory() as tmp:
        engine, factory = prepared(f"sqlite:///{Path(tmp) / 'fast.db'}", list(data))
        results["sqlite write_batch"] = write_path(factory, data)
        engine.dispose()
        engine, factory = prepared(f"sqlite:///{Path(tmp) / 'naive.db'}", list(data))
        results["sqlite naive"] = naive(factory, data, args.naive_days)
        engine.dispose()

    name = f"stridewise_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        engine, factory = prepared(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", list(data))
        results["postgresql write_batch"] = write_path(factory, data)
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE step_intervals"))
        results["postgresql COPY (ceiling)"] = pg_copy(engine, data, "step_intervals")
        with engine.begin() as conn:
            conn.execute(text("TRUNCATE step_intervals"))
            conn.execute(text("CREATE TABLE bare (LIKE step_intervals INCLUDING ALL)"))
        results["postgresql COPY, no FK"] = pg_copy(engine, data, "bare")
        results["postgresql naive"] = naive(factory, data, args.naive_days)
        engine.dispose()
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    print(f"\n{'path':<28}{'rows':>12}{'seconds':>10}{'rows/s':>12}")
    for label, (rows, seconds) in results.items():
        print(f"{label:<28}{rows:>12,}{seconds:>10.2f}{rows / seconds:>12,.0f}")
    print()
    for backend in ("sqlite", "postgresql"):
        ratio = rate(results[f"{backend} write_batch"]) / rate(results[f"{backend} naive"])
        print(f"{backend}: write_batch / naive = {ratio:.1f}x (target >= 10x)")
    ceiling = rate(results["postgresql write_batch"]) / rate(results["postgresql COPY (ceiling)"])
    print(f"postgresql: write_batch / COPY = {ceiling:.2f} (target >= 0.5)")


if __name__ == "__main__":
    main()
