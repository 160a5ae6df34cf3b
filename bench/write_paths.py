"""The two PostgreSQL write paths of ``write_batch`` on the same batches: the
one-statement-per-table path (``ingest.pg_batch``: rows as JSON, INSERT ... ON
CONFLICT, one pipeline) and the COPY path (read what is stored, COPY the new rows
in a savepoint, then the totals and the dirty days). Each batch size is written
new, then again unchanged (what a re-read sends), by both paths in the same run.

Figures per batch: client CPU (this process), server CPU (the PostgreSQL
backend's, from ``/proc/<pid>/schedstat``) and their sum, with the sum's ratio of the
one-statement path against the COPY path (the baseline): below 1 the first path
costs the system less. ``ingest.pg_batch.MAX_ROWS`` is set in the band of
sizes where that ratio is about 1.

    python bench/write_paths.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

# bench/ingest.py shares its name with the ``ingest`` package: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

from sqlalchemy import delete, text  # noqa: E402

import ingest.store as store  # noqa: E402
from core.schema import DailyTotal, StepBatch, StepInterval  # noqa: E402
from ingest.db import make_engine, session_factory, upgrade  # noqa: E402
from ingest.models import DailyTotalRow, Patient, StepIntervalRow, Therapist  # noqa: E402
from ingest.programme_models import DirtyDay  # noqa: E402

PG_ADMIN = os.environ.get(
    "STRIDEWISE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SIZES = (15, 60, 170, 300, 600, 1440, 5000)
PATHS = {"one statement": 10**9, "copy": -1}  # store.MAX_ROWS forcing each path
T0 = datetime(2026, 12, 1, tzinfo=UTC)


def cpu_seconds(pid: int) -> float:
    """Time on CPU in ns (``schedstat``): /proc's stat counts 10 ms ticks, too
    coarse for a batch of a millisecond."""
    return int(Path(f"/proc/{pid}/schedstat").read_text().split()[0]) / 1e9


def batch(size: int) -> StepBatch:
    rows = [StepInterval("B1", "google-health", "watch", T0 + timedelta(minutes=i),
                         T0 + timedelta(minutes=i + 1), 0, 40 + i % 50)
            for i in range(size)]  # fmt: skip
    days = sorted({r.start.date() for r in rows})
    return StepBatch(rows, [DailyTotal("B1", "google-health", d, 4000) for d in days])


def measure(factory, backend_pid: int, data: StepBatch, limit: int, repeats: int) -> dict:
    """CPU per batch, new then unchanged, on one pooled connection."""
    store.MAX_ROWS = limit
    figures = {"new": [0.0, 0.0], "unchanged": [0.0, 0.0]}
    for _ in range(repeats):
        with factory() as session, session.begin():
            for table in (StepIntervalRow, DailyTotalRow, DirtyDay):
                session.execute(delete(table))
        for kind in ("new", "unchanged"):
            client, server = time.process_time(), cpu_seconds(backend_pid)
            with factory() as session, session.begin():
                report = store.write_batch(session, data, {"B1"})
            figures[kind][0] += time.process_time() - client
            figures[kind][1] += cpu_seconds(backend_pid) - server
            expected = len(data.intervals) if kind == "new" else 0
            assert report.intervals_changed == expected, (kind, report)
    return {k: (c / repeats, s / repeats) for k, (c, s) in figures.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    name = f"stridewise_bench_paths_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    # One connection, so the backend measured is the one that did the work.
    engine = make_engine(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", pool_size=1, max_overflow=0)
    default_limit = store.MAX_ROWS
    try:
        upgrade(engine)
        factory = session_factory(engine)
        with factory() as session, session.begin():
            session.add(Therapist(id="BT", name="Bench", email="bench@example.org"))
            session.flush()
            session.add(Patient(id="B1", name="B1", timezone="UTC", therapist_id="BT"))
        with engine.connect() as conn:
            backend = conn.scalar(text("SELECT pg_backend_pid()"))
        print(f"{'rows':>6} {'rows are':<10}{'path':<15}{'client ms':>10}{'server ms':>10}"
              f"{'sum ms':>9}{'sum vs copy':>12}")  # fmt: skip
        for size in SIZES:
            data = batch(size)
            results = {p: measure(factory, backend, data, limit, args.repeats)
                       for p, limit in PATHS.items()}  # fmt: skip
            for kind in ("new", "unchanged"):
                copy = sum(results["copy"][kind])
                for path, figures in results.items():
                    client, server = figures[kind]
                    print(f"{size:>6} {kind:<10}{path:<15}{1000 * client:>10.2f}"
                          f"{1000 * server:>10.2f}{1000 * (client + server):>9.2f}"
                          f"{(client + server) / copy:>11.2f}x")  # fmt: skip
        print(f"ingest.pg_batch.MAX_ROWS (batches up to it take the one-statement path): "
              f"{default_limit}")  # fmt: skip
    finally:
        store.MAX_ROWS = default_limit
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


if __name__ == "__main__":
    main()
