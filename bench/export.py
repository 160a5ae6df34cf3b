"""Whole-clinic FHIR Bulk Data export: resources/s through ``fhir-ndjson`` and peak
memory, at two clinic sizes to show memory stays flat in the number of patients.

Each size runs in a fresh child process over an SQLite clinic of hourly step data
(14 waking hours, some days not worn or worn little, one device per patient, each
enrolled after a week): the child runs the real export (day view, rules, builders,
fhir.resources validation, NDJSON files) and reports its peak RSS. The baseline,
measured in the same child on the same dictionaries, is ``json.dumps`` alone, with
no validation, no rules and no database.

    python bench/export.py            # 25 and 100 patients x 180 days, 10 a chunk
    python bench/export.py --full     # 500 and 2,000 patients x 180 days, 200 a chunk
    python bench/export.py --sizes 200 500
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# A script in bench/ shares names with packages (bench/ingest.py): keep bench/ off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

from core.schema import DeviceInfo, StepBatch, StepInterval  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.models import Patient, Therapist  # noqa: E402
from ingest.store import write_batch  # noqa: E402
from interop.slices import CHUNK_PATIENTS  # noqa: E402
from rules.enrolment import start_programme  # noqa: E402

FIRST = date(2026, 1, 5)
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
OFFSETS = {"Europe/London": 0, "America/New_York": -5, "Asia/Tokyo": 9, "Australia/Sydney": 11}


def _patient_day(rng: random.Random, pid: str, day: date, offset_h: int) -> list[StepInterval]:
    """Hourly buckets 07:00-21:00 local; 4% of days not worn, 4% worn three hours."""
    roll = rng.random()
    if roll < 0.04:
        return []
    hours = range(9, 12) if roll < 0.08 else range(7, 21)
    walk = rng.choice(list(hours))
    rows = []
    for hour in hours:
        start = datetime(day.year, day.month, day.day, hour, tzinfo=UTC) - timedelta(hours=offset_h)
        steps = rng.randint(3000, 4200) if hour == walk else rng.randint(50, 700)
        rows.append(StepInterval(pid, "garmin", "fenix-7", start, start + timedelta(hours=1),
                                 offset_h * 3600, steps))  # fmt: skip
    return rows


def build(path: Path, patients: int, days: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    factory = session_factory(engine)
    rng = random.Random(7)
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Bench", email="bench@example.org"))
    for p in range(patients):
        pid, zone = f"B{p:05d}", ZONES[p % len(ZONES)]
        rows = [
            r
            for d in range(days)
            for r in _patient_day(rng, pid, FIRST + timedelta(days=d), OFFSETS[zone])
        ]
        with transaction(factory) as session:
            session.add(Patient(id=pid, name=f"Patient {p}", timezone=zone, therapist_id="T1"))
            session.flush()
            device = DeviceInfo(pid, "garmin", "fenix-7", "garmin-connect", "watch", "Garmin")
            write_batch(session, StepBatch(rows, [], [device]))
            start_programme(session, pid, FIRST + timedelta(days=7))
    engine.dispose()


def child(db: Path, out: Path, days: int, patients: int, chunk: int) -> dict:
    """The measured export of the first ``patients``, then the baseline on the same
    dictionaries."""
    from interop.export import clinic_ndjson
    from interop.fhir import bulk_ref, patient_resources
    from interop.slices import clinic_slices

    engine = make_engine(f"sqlite:///{db}")
    factory = session_factory(engine)
    now = datetime.combine(FIRST + timedelta(days=days), datetime.min.time(), UTC)
    last = FIRST + timedelta(days=days - 1)
    ids = [f"B{p:05d}" for p in range(patients)]
    with factory() as session:
        t0 = time.perf_counter()
        report = clinic_ndjson(session, out, now, FIRST, last, ids, chunk=chunk)
        elapsed = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    dumps_s, dumped = 0.0, 0
    with factory() as session:
        for s in clinic_slices(session, now, ids, chunk):
            built = list(patient_resources(s, FIRST, last, bulk_ref))
            t0 = time.perf_counter()
            for r in built:
                json.dumps(r, separators=(",", ":"))
            dumps_s += time.perf_counter() - t0
            dumped += len(built)
    engine.dispose()
    return {
        "patients": report.patients,
        "resources": report.resources,
        "counts": report.counts,
        "seconds": elapsed,
        "peak_mb": peak_mb,
        "dumps_seconds": dumps_s,
        "dumped": dumped,
    }


def measure(db: Path, patients: int, days: int, chunk: int, work: Path) -> dict:
    """One export in a fresh process, so its peak RSS is its own."""
    out = work / f"ndjson-{patients}"
    result = subprocess.run(
        [sys.executable, __file__, "--child", str(db), str(out), str(days), str(patients),
         str(chunk)],
        capture_output=True, text=True,
    )  # fmt: skip
    if result.returncode:
        raise SystemExit(f"export of {patients} patients failed:\n{result.stderr[-3000:]}")
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    figures["bytes"] = sum(p.stat().st_size for p in out.iterdir())
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="2,000 and 500 patients")
    parser.add_argument("--days", type=int, default=180)
    parser.add_argument("--sizes", type=int, nargs=2, metavar=("SMALL", "LARGE"),
                        help="two clinic sizes instead of the default or --full ones")  # fmt: skip
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        db, out, days, patients, chunk = args.child
        print(json.dumps(child(Path(db), Path(out), int(days), int(patients), int(chunk))))
        return
    # Both sizes exceed the chunk, so both stream; the full run uses the product's chunk.
    sizes, chunk = ((500, 2000), CHUNK_PATIENTS) if args.full else ((25, 100), 10)
    if args.sizes:
        sizes, chunk = tuple(sorted(args.sizes)), min(CHUNK_PATIENTS, min(args.sizes))
    with tempfile.TemporaryDirectory(prefix="sw-bench-export-") as tmp:
        db = Path(tmp) / "clinic.db"
        t0 = time.perf_counter()
        build(db, sizes[-1], args.days)
        built_s = time.perf_counter() - t0
        rows = [measure(db, n, args.days, chunk, Path(tmp)) for n in sizes]
    print(
        f"fhir-ndjson export, {args.days} days per patient (SQLite, hourly data, "
        f"{chunk} patients a chunk; clinic built in {built_s:.0f} s, not timed)"
    )
    for r in rows:
        rate = r["resources"] / r["seconds"]
        dumps_rate = r["dumped"] / r["dumps_seconds"]
        kinds = ", ".join(f"{n} {k}" for k, n in r["counts"].items())
        print(
            f"  {r['patients']:>5} patients: {r['resources']:>8,} resources ({kinds}), "
            f"{r['bytes'] / 1e6:,.0f} MB in {r['seconds']:.1f} s = {rate:,.0f} resources/s; "
            f"peak RSS {r['peak_mb']:,.0f} MB"
        )
        print(
            f"         baseline json.dumps of the same dicts, no validation: "
            f"{dumps_rate:,.0f} resources/s; export/baseline = {rate / dumps_rate:.3f}"
        )
    small, large = rows
    growth = large["peak_mb"] / small["peak_mb"]
    print(
        f"  peak memory x{growth:.2f} for x{large['patients'] / small['patients']:.1f} "
        "patients (flat: it streams)"
    )


if __name__ == "__main__":
    main()
