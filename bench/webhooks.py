"""Google Health push receiver: how fast ``POST /webhooks/google-health`` answers
(it must within 100 ms), against ``GET /healthz`` measured in the same run as the
baseline (the same app, server and database round trip, no marking).

    python bench/webhooks.py            # 300 notifications, 200 linked accounts
    python bench/webhooks.py --full     # 3000 notifications, 5000 linked accounts
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

# bench/ingest.py shares its name with the ``ingest`` package: keep this folder off the
# path; the checkout's root goes on it for the sandbox's server helper.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p).resolve() != HERE]

from ingest.crypto import Cipher, generate_key  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.models import LinkedAccount, Patient, Therapist  # noqa: E402
from sandbox.serve import serve_in_thread  # noqa: E402
from stridewise.settings import Settings  # noqa: E402
from stridewise.web.app import create_app  # noqa: E402
from stridewise.wiring import App  # noqa: E402

SECRET = "bench-secret"


def _seed(url: str, key: str, accounts: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    cipher = Cipher(key)
    sealed = cipher.encrypt_json({"token": "t"})
    with transaction(session_factory(engine)) as session:
        session.add(Therapist(id="T", name="T", email="t@example.org"))
        session.flush()
        for n in range(accounts):
            session.add(Patient(id=f"P{n}", name="P", therapist_id="T", overrides={}))
        session.flush()
        for n in range(accounts):
            user = str(10**9 + n)
            session.add(LinkedAccount(patient_id=f"P{n}", provider="google-health",
                                      external_user_id=user, credentials=sealed))  # fmt: skip
    engine.dispose()


def _times(call, count: int) -> list[float]:
    out = []
    for n in range(count):
        started = time.perf_counter()
        call(n)
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="the full size")
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    count, accounts = (3000, 5000) if args.full else (300, 200)
    key = generate_key()
    with tempfile.TemporaryDirectory() as folder:
        url = args.database_url or f"sqlite:///{folder}/bench.db"
        _seed(url, key, accounts)
        app = App(Settings(database_url=url, secret_key=key, google_webhook_secret=SECRET))
        with serve_in_thread(create_app(app)) as base, httpx.Client(base_url=base) as http:
            headers = {"Authorization": SECRET}

            def push(n: int) -> None:
                start = f"2026-01-01T00:00:{n % 60:02d}Z"
                end = f"2026-01-{n // 1440 + 1:02d}T{n // 60 % 24:02d}:01:00Z"
                span = {"physicalTimeInterval": {"startTime": start, "endTime": end}}
                body = {"data": {"version": "1", "healthUserId": str(10**9 + n % accounts),
                                 "operation": "UPSERT", "dataType": "steps",
                                 "intervals": [span]}}  # fmt: skip
                assert http.post("/webhooks/google-health", json=body, headers=headers).is_success

            _times(push, 20)
            _times(lambda n: http.get("/healthz"), 20)
            baseline = _times(lambda n: http.get("/healthz"), count)
            pushes = _times(push, count)
    for name, figures in (("healthz (baseline)", baseline), ("webhook", pushes)):
        p95 = statistics.quantiles(figures, n=20)[-1]
        print(f"{name:20} n={len(figures)}  median {statistics.median(figures):6.2f} ms"
              f"  p95 {p95:6.2f} ms  max {max(figures):6.2f} ms")  # fmt: skip
    ratio = statistics.median(pushes) / statistics.median(baseline)
    print(f"webhook / healthz median ratio: {ratio:.2f}  (budget: 100 ms per notification)")


if __name__ == "__main__":
    main()
