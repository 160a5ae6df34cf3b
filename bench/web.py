"""Web throughput: the caseload dashboard and ``GET /api/v1/patients/{id}/days``
(90 days) served by uvicorn on loopback over PostgreSQL, against a bare FastAPI
route returning the same bytes from memory, served the same way in the same run.

The database holds ``--patients`` patients in caseloads of ``--caseload``; each
has its caseload summary (what the dashboard reads) and one linked account; the
days patient has 90 days of 15-minute intervals, evaluated once as the daily job does (so
its day summaries are stored, as in production). Figures: requests/s and p50/p95
latency with ``--clients`` concurrent clients for ``--seconds`` each, and the
ratio to the in-memory baseline. The dashboard's SQL statements per request are
counted too (they must not grow with the caseload: tests/test_web_therapist.py).

    python bench/web.py              # 300 patients (about a minute)
    python bench/web.py --full       # 2,000 patients
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

# bench/ingest.py shares its name with the ``ingest`` package: keep this folder off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx  # noqa: E402
from fastapi import FastAPI, Response  # noqa: E402
from sqlalchemy import event, insert, text  # noqa: E402

from core.schema import StepBatch, StepInterval  # noqa: E402
from ingest.access_models import CaseloadSummary  # noqa: E402
from ingest.crypto import generate_key  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.models import LinkedAccount, Patient, Therapist  # noqa: E402
from ingest.store import write_batch  # noqa: E402
from rules.evaluate import evaluate  # noqa: E402
from sandbox.serve import serve_in_thread  # noqa: E402
from stridewise.settings import Settings  # noqa: E402
from stridewise.web.accounts import create_api_token, set_password  # noqa: E402
from stridewise.web.app import create_app  # noqa: E402
from stridewise.wiring import App  # noqa: E402

PG_ADMIN = os.environ.get(
    "STRIDEWISE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
PASSWORD = "bench password long"


def fresh_database() -> tuple[str, str]:
    name = f"stridewise_bench_web_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}", name


def drop_database(name: str) -> None:
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def figures(i: int, today: date) -> dict:
    spark = [
        [
            (today - timedelta(days=27 - d)).isoformat(),
            4000 + (i * 37 + d * 101) % 5000,
            "valid" if (i + d) % 9 else "low_wear",
        ]
        for d in range(28)
    ]
    return {
        "level": i % 8,
        "walks_planned": 5,
        "walks_done": i % 6,
        "minutes_planned": 20,
        "phase": "progress",
        "days_with_data": 25 + i % 6,
        "last_data": today.isoformat(),
        "spark": spark,
    }


def seed(url: str, patients: int, caseload: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    now = datetime.now(UTC)
    today = now.date()
    therapists = (patients + caseload - 1) // caseload
    with transaction(factory) as session:
        session.execute(
            insert(Therapist),
            [
                {
                    "id": f"T{t}",
                    "name": f"Therapist {t}",
                    "email": f"t{t}@clinic.example",
                    "created_at": now,
                }
                for t in range(therapists)
            ],
        )
        session.execute(
            insert(Patient),
            [
                {
                    "id": f"P{i:05d}",
                    "name": f"Patient {i}",
                    "timezone": "Europe/London",
                    "therapist_id": f"T{i // caseload}",
                    "programme": "walkback",
                    "overrides": {},
                    "created_at": now,
                }
                for i in range(patients)
            ],
        )
        session.execute(
            insert(LinkedAccount),
            [
                {
                    "patient_id": f"P{i:05d}",
                    "provider": "garmin",
                    "credentials": b"x",
                    "credentials_version": 1,
                    "status": "active" if i % 17 else "needs_relink",
                    "last_success_at": now - timedelta(minutes=i % 90),
                    "consecutive_failures": 0,
                    "created_at": now - timedelta(days=100),  # linked before the 90 days
                    "updated_at": now,
                }
                for i in range(patients)
            ],
        )
        session.execute(
            insert(CaseloadSummary),
            [
                {
                    "patient_id": f"P{i:05d}",
                    "computed_at": now,
                    "as_of": today,
                    "figures": figures(i, today),
                }
                for i in range(patients)
            ],
        )
        set_password(session, "T0", PASSWORD)
        start = datetime.combine(today - timedelta(days=89), datetime.min.time(), UTC)
        intervals = [
            StepInterval(
                "P00000",
                "garmin",
                "fr255",
                start + timedelta(days=d, minutes=15 * q),
                start + timedelta(days=d, minutes=15 * (q + 1)),
                0,
                90 + (q * 7) % 400,
            )
            for d in range(90)
            if d % 11 != 5
            for q in range(28, 88)
        ]
        write_batch(session, StepBatch(intervals=intervals))
    evaluate(factory, patient_id="P00000", now=now)  # as the daily job has done
    engine.dispose()


def load(client: httpx.Client, path: str, seconds: float, clients: int) -> dict:
    """``clients`` threads requesting ``path`` for ``seconds``: requests/s and latency."""
    latencies: list[float] = []
    errors = []
    deadline = time.perf_counter() + seconds

    def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            response = client.get(path)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200:
                errors.append(response.status_code)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    latencies.sort()
    assert not errors, f"{path}: {len(errors)} failed requests ({errors[:3]})"
    return {
        "rps": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p95": latencies[int(len(latencies) * 0.95) - 1] * 1000,
        "n": len(latencies),
    }


def signed_in(base: str, limits: httpx.Limits) -> httpx.Client:
    client = httpx.Client(base_url=base, limits=limits, timeout=60)
    token = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/login").text).group(1)
    response = client.post(
        "/login", data={"email": "t0@clinic.example", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 303, response.text
    return client


def bare_app(bodies: dict[str, tuple[bytes, str]]) -> FastAPI:
    bare = FastAPI()
    for path, (body, media) in bodies.items():
        bare.add_api_route(path, lambda b=body, m=media: Response(b, media_type=m))
    return bare


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=300)
    parser.add_argument("--caseload", type=int, default=40)
    parser.add_argument("--full", action="store_true", help="2,000 patients")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=5)
    args = parser.parse_args()
    patients = 2000 if args.full else args.patients
    url, name = fresh_database()
    try:
        started = time.perf_counter()
        seed(url, patients, args.caseload)
        print(
            f"seeded {patients} patients (caseloads of {args.caseload}) in "
            f"{time.perf_counter() - started:.1f} s"
        )
        app = App(Settings(database_url=url, secret_key=generate_key()))
        web = create_app(app)
        with transaction(app.factory) as session:
            secret, _ = create_api_token(session, "T0", "bench")
        first = date.today() - timedelta(days=89)
        days_path = f"/api/v1/patients/P00000/days?from={first}&to={date.today()}"
        limits = httpx.Limits(max_connections=args.clients, max_keepalive_connections=args.clients)
        statements: list[str] = []
        with serve_in_thread(web) as base:
            client = signed_in(base, limits)
            client.headers["authorization"] = f"Bearer {secret}"
            dashboard = client.get("/")
            days = client.get(days_path)
            assert dashboard.status_code == 200 and days.status_code == 200
            day_count = len(days.json())
            assert day_count >= 85, day_count
            listen = lambda *a: statements.append(a[2])  # noqa: E731
            event.listen(app.engine, "before_cursor_execute", listen)
            client.get("/")
            event.remove(app.engine, "before_cursor_execute", listen)
            results = {
                "dashboard": load(client, "/", args.seconds, args.clients),
                "days (90)": load(client, days_path, args.seconds, args.clients),
            }
        bodies = {
            "/": (dashboard.content, "text/html"),
            "/days": (days.content, "application/json"),
        }
        with serve_in_thread(bare_app(bodies)) as base:
            bare = httpx.Client(base_url=base, limits=limits, timeout=60)
            baseline = {
                "dashboard": load(bare, "/", args.seconds, args.clients),
                "days (90)": load(bare, "/days", args.seconds, args.clients),
            }
        print(f"days: {day_count} days, {len(days.content):,} bytes")
        print(
            f"dashboard: {len(statements)} SQL statements per request, "
            f"{args.caseload} rows, {len(dashboard.content):,} bytes"
        )
        print(
            f"{'route':12} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} | {'bare req/s':>10} "
            f"{'bare p95':>9} | {'ratio':>6}"
        )
        for route, r in results.items():
            b = baseline[route]
            print(
                f"{route:12} {r['rps']:8.1f} {r['p50']:8.1f} {r['p95']:8.1f} | {b['rps']:10.1f} "
                f"{b['p95']:9.1f} | {r['rps'] / b['rps']:6.3f}"
            )
    finally:
        drop_database(name)


if __name__ == "__main__":
    main()
