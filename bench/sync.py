"""Sync throughput: N sandbox accounts with one day each, synced by real
``stridewise worker`` processes against PostgreSQL and the Google Health sandbox
(itself a separate process on loopback).

Phases, all in this run:
  1. one worker, N/4 accounts   (memory baseline)
  2. one worker, N accounts     (the throughput baseline)
  3. two workers, N accounts    (scaling: ratio against phase 2)
  3b. four workers, N accounts  (scaling further on the same two cores)
  4. the bare pipeline, N accounts: 2 processes x ``--concurrency`` threads doing
     only the same two requests per account to the same sandbox, a ``json``
     parse and a psycopg ``COPY`` of the rows into a plain table (the floor
     a sync's client CPU is compared with)

Figures: accounts/s (first sync started to last finished, from the SyncRun
records), p50/p95 sync latency, API calls per sync, each worker's peak RSS.
Memory is flat in the number of accounts when phase 2's peak is close to
phase 1's. CPU per sync is each process's user+system time (``/proc``) from
when it has started up (a worker: connected to the database) and sits idle,
until the phase's last sync, divided by the syncs; the start-up itself
(imports, connections) is printed apart, as a long-running worker pays it once.
The workers tick every 2 s (30 s by default): a cycle claims until nothing is
due, so the tick only sets when syncs start, and a faster one would mostly add
the idle delivery tick's queries to every sync's CPU.

    python bench/sync.py [--accounts 800] [--concurrency 8]

Goal: 10,000 one-day syncs in under a minute on a 2-core machine.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# bench/ingest.py shares its name with the ``ingest`` package: keep this folder off the path.
# The repository root instead: the provider fakes (sandbox/) ship in no wheel.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx  # noqa: E402
import psycopg  # noqa: E402
import uvicorn  # noqa: E402
from sqlalchemy import delete, func, insert, select, text, update  # noqa: E402

from ingest.crypto import Cipher, generate_key  # noqa: E402
from ingest.db import make_engine, session_factory, upgrade  # noqa: E402
from ingest.models import (  # noqa: E402
    DailyTotalRow,
    Device,
    LinkedAccount,
    Patient,
    StepIntervalRow,
    SyncRun,
    Therapist,
)
from sandbox.google_health import (  # noqa: E402
    GoogleSandboxState,
    create_app,
    sandbox_settings,
)
from sandbox.walker import DayShape  # noqa: E402

PG_ADMIN = os.environ.get(
    "STRIDEWISE_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
STRIDEWISE = str(Path(sys.executable).with_name("stridewise"))
SHORT_DAY = DayShape(wear_hours=(9, 12))  # about 180 minutes: one page per sync
STEPS_PATH = "/v4/users/me/dataTypes/steps/dataPoints"


def afternoon_zone(now: datetime) -> str:
    """A fixed-offset zone where it is mid-afternoon now, so "today" is complete
    (the device was worn 9-12 local) whatever time the benchmark runs."""
    hours = (16 - now.hour + 12) % 24 - 12  # UTC offset in -12..+11
    return "Etc/GMT" + (f"{-hours:+d}" if hours else "")


def create_database() -> tuple[str, str]:
    name = f"stridewise_bench_sync_{uuid.uuid4().hex[:8]}"
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return name, PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"


def drop_database(name: str) -> None:
    admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def seed(
    factory, cipher: Cipher, state: GoogleSandboxState, count: int, zone: str
) -> list[tuple[str, str]]:
    """Therapist, patients and linked accounts; returns (patient, access token) pairs."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    expiry = (datetime.now(UTC) + timedelta(hours=1)).replace(tzinfo=None).isoformat() + "Z"
    patients, links = [], []
    for i in range(count):
        pid = f"B{i:05d}"
        user = state.add_user(pid, time_zone=zone, shapes={today: SHORT_DAY})
        issued = state.issue_tokens(pid)
        credentials = {"token": issued["access_token"], "refresh_token": issued["refresh_token"],
                       "client_id": state.client_id, "client_secret": state.client_secret,
                       "scopes": issued["scope"].split(), "expiry": expiry}  # fmt: skip
        patients.append({"id": pid, "name": pid, "timezone": zone, "therapist_id": "BT",
                         "overrides": {}})  # fmt: skip
        links.append({"patient_id": pid, "provider": "google-health",
                      "external_user_id": user.health_user_id,
                      "credentials": cipher.encrypt_json(credentials), "credentials_version": 1,
                      "status": "active", "consecutive_failures": 0})  # fmt: skip
    with factory() as session, session.begin():
        session.add(Therapist(id="BT", name="Bench", email="bench@example.org"))
        session.flush()
        session.execute(insert(Patient), patients)
        session.execute(insert(LinkedAccount), links)
    return [(p["id"], cipher.decrypt_json(link["credentials"])["token"])
            for p, link in zip(patients, links, strict=True)]  # fmt: skip


def warm(state: GoogleSandboxState, zone: str) -> None:
    """Generate each user's day in the sandbox before it forks (its cache holds 2048
    users), so every phase measures the sync, not the fake provider's walker."""
    today = datetime.now(UTC).astimezone(ZoneInfo(zone)).date()
    for user in list(state.users.values())[:2048]:
        state.day_points(user, today)


def serve_sandbox(state: GoogleSandboxState, sock: socket.socket) -> None:
    config = uvicorn.Config(create_app(state), log_level="error", access_log=False,
                            lifespan="off")  # fmt: skip
    uvicorn.Server(config).run(sockets=[sock])


def reset(factory) -> None:
    """Forget every synced step and run; no account is due."""
    with factory() as session, session.begin():
        for table in (SyncRun, StepIntervalRow, DailyTotalRow, Device):
            session.execute(delete(table))
        far = datetime.now(UTC) + timedelta(days=365)
        session.execute(update(LinkedAccount).values(
            synced_through=None, next_sync_due=far, lease_owner=None, lease_expires=None,
            consecutive_failures=0, last_error=None, last_error_kind=None,
            synced_until=None, full_read_at=None, changed_from=None))  # fmt: skip


def make_due(factory, due: int) -> None:
    """Make the first ``due`` accounts due now."""
    with factory() as session, session.begin():
        ids = select(LinkedAccount.id).order_by(LinkedAccount.id).limit(due).scalar_subquery()
        session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.id.in_(ids))
            .values(next_sync_due=datetime.now(UTC))
        )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settled(pids: list[int], limit_s: float = 30) -> float:
    """Wait until the processes have started up and sit idle (their CPU time grows by
    under a tenth of a core: an idle worker still ticks); their CPU seconds so far."""
    deadline = time.monotonic() + limit_s
    before = sum(cpu_seconds(p) for p in pids)
    while True:
        time.sleep(0.5)
        now = sum(cpu_seconds(p) for p in pids)
        if now - before < 0.05 * len(pids) or time.monotonic() > deadline:
            return now
        before = now


def connected(factory, names: list[str], limit_s: float = 120) -> None:
    """Wait until every worker has connected to the database (its first tick: it has
    imported and built everything but the provider adapter, which loads on first use)."""
    deadline = time.monotonic() + limit_s
    query = text("SELECT count(DISTINCT application_name) FROM pg_stat_activity "
                 "WHERE application_name = ANY(:names)")  # fmt: skip
    while time.monotonic() < deadline:
        with factory() as session:
            if session.scalar(query, {"names": names}) == len(names):
                return
        time.sleep(0.2)


def phase(factory, env: dict, workers: int, accounts: int, sandbox_pid: int) -> dict:
    reset(factory)
    names = [f"bench-worker-{i}" for i in range(workers)]
    url = env["STRIDEWISE_DATABASE_URL"]
    procs = [subprocess.Popen([STRIDEWISE, "worker"], stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL,
                              env=env | {"STRIDEWISE_DATABASE_URL": f"{url}?application_name={n}"})
             for n in names]  # fmt: skip
    deadline = time.monotonic() + 600
    try:
        connected(factory, names)
        startup_cpu = settled([p.pid for p in procs])
        sandbox_cpu = cpu_seconds(sandbox_pid)
        make_due(factory, accounts)
        while True:
            with factory() as session:
                done = session.scalar(select(func.count()).where(SyncRun.finished_at.is_not(None)))
            if done >= accounts or time.monotonic() > deadline:
                break
            time.sleep(0.25)
        peaks = [peak_rss_mb(p.pid) for p in procs]
        worker_cpu = sum(cpu_seconds(p.pid) for p in procs) - startup_cpu
        sandbox_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
    with factory() as session:
        runs = session.execute(
            select(
                SyncRun.started_at, SyncRun.finished_at, SyncRun.api_calls, SyncRun.outcome
            ).where(SyncRun.finished_at.is_not(None))
        ).all()
        stored = session.scalar(select(func.count()).select_from(StepIntervalRow))
    span = (max(r.finished_at for r in runs) - min(r.started_at for r in runs)).total_seconds()
    latencies = sorted((r.finished_at - r.started_at).total_seconds() for r in runs)
    return {
        "workers": workers,
        "accounts": accounts,
        "runs": len(runs),
        "ok": sum(r.outcome == "success" for r in runs),
        "intervals": stored,
        "seconds": span,
        "rate": len(runs) / span,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * latencies[int(0.95 * (len(latencies) - 1))],
        "calls": statistics.fmean(r.api_calls for r in runs),
        "rss_mb": max(peaks),
        "worker_cpu_ms": 1000 * worker_cpu / len(runs),
        "sandbox_cpu_ms": 1000 * sandbox_cpu / len(runs),
        "startup_cpu_s": startup_cpu / workers,
    }


def bare_process(base_url: str, dsn: str, jobs: list, threads: int, ready, go, leave,
                 results) -> None:  # fmt: skip
    """One process of the bare pipeline: per account two plain requests, ``json``,
    one ``COPY`` per table; nothing else (no lease, no validation, no cursor)."""
    http = httpx.Client(timeout=30)
    local = threading.local()

    def one(job: tuple[str, str, str]) -> None:
        patient, token, day = job
        end = (datetime.fromisoformat(day) + timedelta(days=1)).date().isoformat()
        auth = {"Authorization": f"Bearer {token}"}
        params = {
            "filter": f'steps.interval.civil_start_time >= "{day}" AND '
            f'steps.interval.civil_start_time < "{end}"',
            "pageSize": "10000",
        }
        body = {"range": {"start": {"date": civil(day)}, "end": {"date": civil(end)}},
                "windowSizeDays": 1, "pageSize": 90}  # fmt: skip
        points = json.loads(http.get(base_url + STEPS_PATH, params=params, headers=auth).content)
        rollups = json.loads(
            http.post(base_url + STEPS_PATH + ":dailyRollUp", json=body, headers=auth).content
        )
        if not hasattr(local, "conn"):
            local.conn = psycopg.connect(dsn)
        conn = local.conn
        with conn.cursor() as cursor:
            with cursor.copy("COPY bare_steps FROM STDIN") as copy:
                for p in points["dataPoints"]:
                    i = p["steps"]["interval"]
                    copy.write_row((patient, i["startTime"], i["endTime"], p["steps"]["count"]))
            with cursor.copy("COPY bare_totals FROM STDIN") as copy:
                for r in rollups["rollupDataPoints"]:
                    copy.write_row((patient, day, r["steps"]["countSum"]))
        conn.commit()

    ready.put(os.getpid())
    go.wait()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(one, jobs))
    results.put(time.monotonic())
    leave.wait()  # the parent reads this process's CPU time, then lets it go


def civil(day: str) -> dict:
    year, month, dom = map(int, day.split("-"))
    return {"year": year, "month": month, "day": dom}


def bare_phase(base_url: str, url: str, tokens: list, zone: str, threads: int,
               sandbox_pid: int) -> dict:  # fmt: skip
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS bare_steps (patient_id text, "
                     "start_utc timestamptz, end_utc timestamptz, steps int)")  # fmt: skip
        conn.execute("CREATE TABLE IF NOT EXISTS bare_totals (patient_id text, "
                     "local_date date, steps int)")  # fmt: skip
        conn.execute("TRUNCATE bare_steps, bare_totals")
    day = datetime.now(UTC).astimezone(ZoneInfo(zone)).date().isoformat()
    jobs = [(patient, token, day) for patient, token in tokens]
    fork = multiprocessing.get_context("fork")
    ready, results, go, leave = fork.Queue(), fork.Queue(), fork.Event(), fork.Event()
    procs = [fork.Process(target=bare_process, args=(base_url, dsn, jobs[i::2], threads,
                                                      ready, go, leave, results))
             for i in range(2)]  # fmt: skip
    for p in procs:
        p.start()
    pids = [ready.get(timeout=60) for _ in procs]
    startup_cpu = settled(pids)
    sandbox_cpu = cpu_seconds(sandbox_pid)
    started = time.monotonic()
    go.set()
    finished = max(results.get(timeout=600) for _ in procs)
    client_cpu = sum(cpu_seconds(p) for p in pids) - startup_cpu
    sandbox_cpu = cpu_seconds(sandbox_pid) - sandbox_cpu
    leave.set()
    for p in procs:
        p.join(timeout=30)
    with psycopg.connect(dsn) as conn:
        stored = conn.execute("SELECT count(*) FROM bare_steps").fetchone()[0]
    return {
        "accounts": len(jobs),
        "intervals": stored,
        "seconds": finished - started,
        "rate": len(jobs) / (finished - started),
        "cpu_ms": 1000 * client_cpu / len(jobs),
        "sandbox_cpu_ms": 1000 * sandbox_cpu / len(jobs),
        "startup_cpu_s": startup_cpu / len(procs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=800)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()

    zone = afternoon_zone(datetime.now(UTC))
    name, url = create_database()
    engine = make_engine(url)
    sandbox = None
    try:
        upgrade(engine)
        factory = session_factory(engine)
        key = generate_key()
        state = GoogleSandboxState(seed=3)
        started = time.perf_counter()
        tokens = seed(factory, Cipher(key), state, args.accounts, zone)
        print(f"seeded {args.accounts} accounts in {time.perf_counter() - started:.1f} s "
              f"(zone {zone})")  # fmt: skip
        started = time.perf_counter()
        warm(state, zone)
        print(f"sandbox data generated ahead in {time.perf_counter() - started:.1f} s")

        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        sandbox = multiprocessing.get_context("fork").Process(
            target=serve_sandbox, args=(state, sock), daemon=True
        )
        sandbox.start()
        time.sleep(1.0)

        env = dict(os.environ)
        settings = {"database_url": url, "secret_key": key, "log_level": "ERROR",
                    "sync_backfill_days": 1, "sync_lookback_days": 0,
                    "provisional_settle_hours": 0, "sync_tick_seconds": 2,
                    "sync_concurrency": args.concurrency,
                    **sandbox_settings(base_url, state)}  # fmt: skip
        env |= {f"STRIDEWISE_{k.upper()}": str(v) for k, v in settings.items()}

        small = phase(factory, env, 1, max(1, args.accounts // 4), sandbox.pid)
        one = phase(factory, env, 1, args.accounts, sandbox.pid)
        two = phase(factory, env, 2, args.accounts, sandbox.pid)
        four = phase(factory, env, 4, args.accounts, sandbox.pid)
        bare = bare_phase(base_url, url, tokens, zone, args.concurrency, sandbox.pid)
    finally:
        if sandbox is not None:
            sandbox.terminate()
        engine.dispose()
        drop_database(name)

    print(f"{'phase':<16}{'accounts/s':>11}{'p50 ms':>9}{'p95 ms':>9}{'calls':>7}"
          f"{'peak MB':>9}{'ok':>7}{'s':>7}{'cpu ms/sync: worker':>21}{'sandbox':>9}")  # fmt: skip
    for label, r in (
        ("1 worker, N/4", small),
        ("1 worker, N", one),
        ("2 workers, N", two),
        ("4 workers, N", four),
    ):
        print(f"{label:<16}{r['rate']:>11.1f}{r['p50_ms']:>9.1f}{r['p95_ms']:>9.1f}"
              f"{r['calls']:>7.2f}{r['rss_mb']:>9.1f}{r['ok']:>7}{r['seconds']:>7.1f}"
              f"{r['worker_cpu_ms']:>21.1f}{r['sandbox_cpu_ms']:>9.1f}")  # fmt: skip
    print(f"{'bare pipeline':<16}{bare['rate']:>11.1f}{'':>34}{bare['accounts']:>7}"
          f"{bare['seconds']:>7.1f}{bare['cpu_ms']:>21.1f}"
          f"{bare['sandbox_cpu_ms']:>9.1f}")  # fmt: skip
    print(f"rows stored: 2 workers {two['intervals']}, bare pipeline {bare['intervals']}")
    print(
        f"start-up cpu per process, paid once (not in the per-sync figures): "
        f"worker {two['startup_cpu_s']:.2f} s, bare pipeline {bare['startup_cpu_s']:.2f} s"
    )
    print(
        f"worker cpu per sync / bare pipeline: {two['worker_cpu_ms'] / bare['cpu_ms']:.2f} x "
        f"(2 workers x {args.concurrency} threads vs 2 processes x {args.concurrency})"
    )
    print(
        f"scaling vs 1 worker (same run): 2 workers {two['rate'] / one['rate']:.2f}x, "
        f"4 workers {four['rate'] / one['rate']:.2f}x"
    )
    print(f"peak memory, N vs N/4 accounts: {one['rss_mb'] / small['rss_mb']:.2f}x (1.0 = flat)")
    print(f"cores: {os.cpu_count()} (shared by sandbox, workers and PostgreSQL)")
    projected = 10_000 / two["rate"]
    print(
        f"10,000 one-day syncs at the 2-worker rate: {projected:.0f} s (goal: < 60 s); "
        f"bare pipeline: {10_000 / bare['rate']:.0f} s"
    )
    print(
        f"10,000 one-day syncs, worker cpu alone: {10 * two['worker_cpu_ms']:.0f} core-s "
        f"(bare pipeline {10 * bare['cpu_ms']:.0f} core-s)"
    )


if __name__ == "__main__":
    main()
