"""Google Health sync throughput against the loopback sandbox.

Syncs N patients x D days (first sync: list pages + daily roll-ups, then the
write) through the real adapter and write path, and reports patient-days/s,
API calls per patient-day and the share of time in HTTP, parsing and writing.
Two baselines are measured in the same run:

- the same sync with ``pageSize=1440`` (the API default) instead of 10000;
- the list calls made with google-api-python-client (built from the bundled
  discovery document, over httplib2) instead of plain httpx.

    python bench/google_health.py [--patients 4] [--days 30] [--database-url URL]

Targets (issue 3): at most 2 calls per patient-day; parsing not slower than writing.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from stridewise.providers import google_config

# This folder holds bench/ingest.py, which would shadow the ``ingest`` package.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

import googleapiclient  # noqa: E402
import httplib2  # noqa: E402
import httpx  # noqa: E402
from googleapiclient.discovery import build_from_document  # noqa: E402

from adapters.google_health import GoogleHealthAdapter  # noqa: E402
from adapters.google_health.api import HealthApi  # noqa: E402
from adapters.google_health.consent import FixedToken  # noqa: E402
from core.source import AccountRef, DateWindow  # noqa: E402
from ingest.credentials import CredentialStore  # noqa: E402
from ingest.crypto import Cipher, generate_key  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.linking import link_account  # noqa: E402
from ingest.patients import add_patient, add_therapist  # noqa: E402
from ingest.store import write_batch  # noqa: E402
from sandbox.google_health import GoogleSandboxState, create_app, sandbox_settings  # noqa: E402
from sandbox.serve import serve_in_thread  # noqa: E402
from stridewise.settings import Settings  # noqa: E402

ZONES = ["Europe/London", "America/New_York", "Asia/Tokyo", "Australia/Sydney"]
DISCOVERY = Path(googleapiclient.__file__).parent / "discovery_cache/documents/health.v4.json"


@dataclass
class Run:
    label: str
    seconds: float = 0.0
    http: float = 0.0
    parse: float = 0.0
    write: float = 0.0
    calls: int = 0
    intervals: int = 0

    def line(self, patient_days: int) -> str:
        total = self.http + self.parse + self.write
        return (
            f"{self.label:<22} {patient_days / self.seconds:8.1f} patient-days/s  "
            f"{self.calls / patient_days:5.2f} calls/patient-day  "
            f"http {self.http / total:4.0%}  parse {self.parse / total:4.0%}  "
            f"write {self.write / total:4.0%}  ({self.intervals:,} intervals, {self.seconds:.1f} s)"
        )


def tokens_for(state: GoogleSandboxState, person: str) -> dict:
    issued = state.issue_tokens(person)
    expiry = datetime.now(UTC) + timedelta(seconds=issued["expires_in"])
    return {
        "token": issued["access_token"],
        "refresh_token": issued["refresh_token"],
        "client_id": state.client_id,
        "client_secret": state.client_secret,
        "scopes": issued["scope"].split(),
        "expiry": expiry.replace(tzinfo=None).isoformat() + "Z",
    }


def clinic(url: str, state: GoogleSandboxState, cipher: Cipher, patients: int):
    engine = make_engine(url)
    upgrade(engine)
    factory = session_factory(engine)
    accounts = []
    with transaction(factory) as session:
        add_therapist(session, "t1", "Ana", "ana@clinic.example")
        for n in range(patients):
            pid, zone = f"p{n}", ZONES[n % len(ZONES)]
            state.users.setdefault(pid, state.add_user(pid, time_zone=zone))
            add_patient(session, pid, f"Patient {n}", zone, "t1")
            account = link_account(session, cipher, pid, "google-health", tokens_for(state, pid))
            accounts.append(AccountRef(account.id, pid, "google-health", None, zone))
    return factory, accounts


def sync_all(label, settings, factory, cipher, accounts, window) -> Run:
    run = Run(label)
    with httpx.Client(timeout=60.0) as http:
        adapter = GoogleHealthAdapter(
            google_config(settings), CredentialStore(factory, cipher), http
        )
        started = time.perf_counter()
        for account in accounts:
            result = adapter.fetch(account, window)
            begin = time.perf_counter()
            with transaction(factory) as session:
                write_batch(session, result.batch)
            run.write += time.perf_counter() - begin
            run.calls += result.api_calls
            run.intervals += len(result.batch.intervals)
        run.seconds = time.perf_counter() - started
    run.http, run.parse = adapter.timings["http"], adapter.timings["parse"]
    return run


def list_calls_httpx(base: str, state, people: list[str], window: DateWindow) -> tuple[float, int]:
    points = 0
    with httpx.Client(timeout=60.0) as http:
        started = time.perf_counter()
        for person in people:
            api = HealthApi(http, base, FixedToken(state.issue_tokens(person)["access_token"]))
            end = window.last + timedelta(days=1)
            for page in api.step_pages(window.first, end, 10000):
                points += len(page.get("dataPoints", []))
        return time.perf_counter() - started, points


def list_calls_google_client(base: str, state, people, window) -> tuple[float, int]:
    document = json.loads(DISCOVERY.read_text())
    document["rootUrl"] = base + "/"
    service = build_from_document(document, http=httplib2.Http(timeout=60))
    points_api = service.users().dataTypes().dataPoints()
    query = (
        f'steps.interval.civil_start_time >= "{window.first}" AND '
        f'steps.interval.civil_start_time < "{window.last + timedelta(days=1)}"'
    )
    points = 0
    started = time.perf_counter()
    for person in people:
        auth = f"Bearer {state.issue_tokens(person)['access_token']}"
        request = points_api.list(parent="users/me/dataTypes/steps", filter=query, pageSize=10000)
        while request is not None:
            request.headers["authorization"] = auth
            page = request.execute()
            points += len(page.get("dataPoints", []))
            request = points_api.list_next(request, page)
    return time.perf_counter() - started, points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=4)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--database-url", help="default: a SQLite file per run in a temp dir")
    args = parser.parse_args()

    state = GoogleSandboxState(seed=1)
    key = generate_key()
    cipher = Cipher(key)
    today = datetime.now(UTC).date()
    window = DateWindow(today - timedelta(days=args.days), today - timedelta(days=1))
    patient_days = args.patients * args.days
    with serve_in_thread(create_app(state)) as base, tempfile.TemporaryDirectory() as tmp:
        urls = sandbox_settings(base, state)
        runs = []
        for label, page_size in (("baseline pageSize=1440", 1440), ("pageSize=10000", 10000)):
            url = args.database_url or f"sqlite:///{tmp}/{page_size}.db"
            factory, accounts = clinic(url, state, cipher, args.patients)
            settings = Settings(
                database_url=url, secret_key=key, google_page_size=page_size, **urls
            )
            runs.append(sync_all(label, settings, factory, cipher, accounts, window))
        people = [f"p{n}" for n in range(min(args.patients, 2))]
        # Interleaved, best of two each: the sandbox shares this process and its cores.
        timed = {"client": [], "httpx": []}
        for _ in range(2):
            timed["client"].append(list_calls_google_client(base, state, people, window))
            timed["httpx"].append(list_calls_httpx(base, state, people, window))
        client_s, client_points = min(timed["client"])
        httpx_s, httpx_points = min(timed["httpx"])

    print(f"Google Health sync: {args.patients} patients x {args.days} days, sandbox on loopback")
    for run in runs:
        print("  " + run.line(patient_days))
    baseline, chosen = runs
    print(
        f"  ratio pageSize 10000 vs 1440: {baseline.seconds / chosen.seconds:.2f}x faster, "
        f"{baseline.calls / chosen.calls:.2f}x fewer calls"
    )
    assert client_points == httpx_points, "both clients must read the same points"
    print(
        f"  list calls only, {httpx_points:,} points: httpx {httpx_s:.2f} s, "
        f"google-api-python-client {client_s:.2f} s: client/httpx time ratio "
        f"{client_s / httpx_s:.2f} (best of two, interleaved)"
    )
    print(
        f"  targets: <= 2 calls/patient-day: {chosen.calls / patient_days:.2f}; "
        f"parse {chosen.parse:.2f} s vs write {chosen.write:.2f} s"
    )


if __name__ == "__main__":
    main()
