"""Garmin sync throughput from the loopback sandbox: patient-days/s and API calls per
patient-day through the real adapter and write path, the share of time spent in
HTTP (garminconnect calls, JSON decoding included), parsing and writing, and a
ratio against a baseline measured in the same run: the same number of requests
as bare ``requests.get`` calls of a small endpoint (a fresh connection each, as
the library makes them): what the HTTP alone costs at the least. (Keep-alive is
no faster here: uvicorn on loopback shows the 40 ms delayed-ACK stall on reuse.)

    python bench/garmin.py [--patients 120] [--days 14] [--database-url URL]

The sandbox runs in this process (a thread), so its own work is in every figure.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from stridewise.providers import garmin_config

# This folder holds a script named like the ``ingest`` package: keep it off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

import requests  # noqa: E402

from adapters.garmin import GarminAdapter  # noqa: E402
from adapters.garmin.client import client_with_tokens  # noqa: E402
from adapters.garmin.parse import daily_totals, day_frame, intervals, primary_device  # noqa: E402
from core.schema import StepBatch  # noqa: E402
from core.source import AccountRef, DateWindow  # noqa: E402
from ingest.credentials import CredentialStore  # noqa: E402
from ingest.crypto import Cipher, generate_key  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.linking import link_account  # noqa: E402
from ingest.models import Therapist  # noqa: E402
from ingest.patients import add_patient  # noqa: E402
from ingest.store import write_batch  # noqa: E402
from sandbox.garmin import GarminSandbox, GarminUser, create_app  # noqa: E402
from sandbox.serve import serve_in_thread  # noqa: E402
from stridewise.demo.garmin import sandbox_settings  # noqa: E402
from stridewise.settings import Settings  # noqa: E402

NOW = datetime(2026, 3, 20, 12, 0, tzinfo=UTC)  # the same date in every zone below
ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]


@dataclass
class Phases:
    http: float = 0.0
    parse: float = 0.0
    write: float = 0.0


def setup(url: str, sandbox: GarminSandbox, patients: int, settings: Settings):
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    cipher = Cipher(settings.secret_key)
    accounts = []
    with transaction(factory) as session:
        session.add(Therapist(id="BT", name="Bench", email="bench@example.org"))
        session.flush()
        for n in range(patients):
            zone = ZONES[n % len(ZONES)]
            user = sandbox.add_user(GarminUser(f"b{n}@example.org", "pw", str(uuid.uuid4()), zone))
            add_patient(session, f"G{n:04d}", "Bench", zone, "BT")
            account = link_account(
                session,
                cipher,
                f"G{n:04d}",
                "garmin",
                sandbox.issue_tokens(user.display_name),
                external_user_id=user.display_name,
            )
            session.flush()
            accounts.append(AccountRef(account.id, f"G{n:04d}", "garmin", user.display_name, zone))
    return factory, accounts


def end_to_end(adapter, factory, accounts, window) -> tuple[float, int]:
    calls = 0
    start = time.perf_counter()
    for account in accounts:
        result = adapter.fetch(account, window)
        calls += result.api_calls
        with transaction(factory) as session:
            write_batch(session, result.batch)
    return time.perf_counter() - start, calls


def phases(settings, store, factory, accounts, window, intraday: list[date]) -> Phases:
    """The adapter's steps taken apart, each timed on its own over all patients."""
    spent = Phases()
    for account in accounts:
        garmin = client_with_tokens(garmin_config(settings), store.load(account.account_id).data)
        garmin.display_name = account.external_user_id
        start = time.perf_counter()
        devices = garmin.get_devices()
        rows = garmin.get_daily_steps(window.first.isoformat(), window.last.isoformat())
        days = []
        for day in intraday:
            summary = garmin.connectapi(
                f"{garmin.garmin_connect_daily_summary_url}/{account.external_user_id}",
                params={"calendarDate": day.isoformat()},
            )
            days.append((day, summary, garmin.get_steps_data(day.isoformat())))
        spent.http += time.perf_counter() - start

        start = time.perf_counter()
        batch = StepBatch()
        device = primary_device(devices, account.patient_id)
        batch.devices.append(device)
        batch.daily_totals.extend(
            daily_totals(rows, account.patient_id, window.first, window.last, window.last, NOW)[0]
        )
        for day, summary, buckets in days:
            frame = day_frame(summary, day)
            found, _ = intervals(buckets, frame, None, account.patient_id, device.device)
            batch.intervals.extend(found)
        spent.parse += time.perf_counter() - start

        start = time.perf_counter()
        with transaction(factory) as session:
            write_batch(session, batch)
        spent.write += time.perf_counter() - start
    return spent


def baseline(base_url: str, sandbox: GarminSandbox, accounts, calls: int) -> float:
    """``calls`` bare GETs of a small sandbox endpoint."""
    token = sandbox.issue_tokens(accounts[0].external_user_id)["di_token"]
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    for _ in range(calls):
        answer = requests.get(
            f"{base_url}/device-service/deviceregistration/devices", headers=headers, timeout=15
        )
        answer.raise_for_status()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=120)
    parser.add_argument("--days", type=int, default=14, help="window length (<= 28: one chunk)")
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()

    sandbox = GarminSandbox(clock=lambda: NOW)
    with tempfile.TemporaryDirectory() as tmp, serve_in_thread(create_app(sandbox)) as base:
        url = args.database_url or f"sqlite:///{Path(tmp) / 'bench.db'}"
        settings = sandbox_settings(Settings(database_url=url, secret_key=generate_key()), base)
        factory, accounts = setup(url, sandbox, args.patients, settings)
        store = CredentialStore(factory, Cipher(settings.secret_key))
        adapter = GarminAdapter(garmin_config(settings), store, clock=lambda: NOW)
        last = NOW.date() - timedelta(days=1)
        window = DateWindow(last - timedelta(days=args.days - 1), last)
        recent = last - timedelta(days=settings.garmin_intraday_days - 1)
        intraday = [
            d for d in (window.first + timedelta(n) for n in range(args.days)) if d >= recent
        ]

        seconds, calls = end_to_end(adapter, factory, accounts, window)
        spent = phases(settings, store, factory, accounts, window, intraday)
        floor = baseline(base, sandbox, accounts, calls)

    patient_days = args.patients * args.days
    total = spent.http + spent.parse + spent.write
    print(f"patients {args.patients}, window {args.days} days, {patient_days} patient-days")
    print(f"end to end      {seconds:8.2f} s  {patient_days / seconds:8.1f} patient-days/s")
    print(f"API calls       {calls:8d}    {calls / patient_days:8.2f} per patient-day")
    print(
        f"time shares     HTTP {spent.http / total:6.1%}  parsing {spent.parse / total:6.1%}"
        f"  writing {spent.write / total:6.1%}"
    )
    print(f"baseline        {floor:8.2f} s  for {calls} bare requests.get calls")
    print(f"ratio           {seconds / floor:8.2f}x the bare-HTTP baseline")


if __name__ == "__main__":
    main()
