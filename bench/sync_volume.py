"""Routine-sync data volume: minute points fetched per patient-day at a 15-minute
cadence, the old policy (every sync re-reads the whole look-back) against the new
(minutes since the last sync less an overlap, days whose total moved, one full
read a day), over the same simulated day in the same run.

Each policy gets a fresh SQLite database and fresh sandboxes (Google Health and
Garmin, real HTTP on loopback, same seeds, so the same data): the accounts are
synced once before the day starts (not counted), then every 15 minutes for 24
virtual hours while their watches upload at irregular times (sometimes hours
late). At the end what is stored is checked against what the providers hold.

    python bench/sync_volume.py [--accounts 4] [--lookback 3]

Figures: points (intervals sent by the provider) and API calls per patient-day,
per provider and policy, and the old/new ratio (target: at least 10x fewer).
CPU seconds of this process (client and in-thread sandboxes together) are shown
for scale only.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# bench/ingest.py shares its name with the ``ingest`` package: keep this folder off the
# path; the checkout's root goes on it for the sandboxes.
HERE = Path(__file__).resolve().parent
sys.path[:] = [str(HERE.parent)] + [p for p in sys.path if Path(p).resolve() != HERE]

import httpx  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from adapters.garmin import GarminAdapter  # noqa: E402
from adapters.google_health import GoogleHealthAdapter  # noqa: E402
from ingest.credentials import CredentialStore  # noqa: E402
from ingest.crypto import Cipher, generate_key  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.linking import link_account  # noqa: E402
from ingest.models import StepIntervalRow, Therapist  # noqa: E402
from ingest.patients import add_patient  # noqa: E402
from ingest.sync.backoff import BackoffPolicy  # noqa: E402
from ingest.sync.engine import Sources, SyncContext  # noqa: E402
from ingest.sync.runner import run_with  # noqa: E402
from ingest.sync.window import WindowPolicy  # noqa: E402
from sandbox.garmin import GarminSandbox  # noqa: E402
from sandbox.garmin import create_app as garmin_app  # noqa: E402
from sandbox.garmin import sandbox_settings as garmin_hosts  # noqa: E402
from sandbox.garmin_state import GarminUser  # noqa: E402
from sandbox.google_health import GoogleSandboxState  # noqa: E402
from sandbox.google_health import create_app as google_app  # noqa: E402
from sandbox.google_health import sandbox_settings as google_hosts  # noqa: E402
from sandbox.serve import serve_in_thread  # noqa: E402
from sandbox.walker import Walker  # noqa: E402
from stridewise.providers import garmin_config, google_config  # noqa: E402
from stridewise.settings import Settings  # noqa: E402

ZONES = ("Europe/London", "America/New_York", "Europe/Oslo")
START = datetime(2026, 3, 18, 0, 7, tzinfo=UTC)  # the simulated day starts here
CADENCE = timedelta(minutes=15)
SYNCS_PER_DAY = 96


@dataclass
class Tally:
    points: Counter = field(default_factory=Counter)
    calls: Counter = field(default_factory=Counter)
    syncs: Counter = field(default_factory=Counter)
    full_reads: Counter = field(default_factory=Counter)
    cpu_s: float = 0.0
    matches: bool = False


class Uploads:
    """When each watch last uploaded: usually at the sync before, now and then hours
    late. Seeded, so both policies see the same uploads."""

    def __init__(self, people: list[str], seed: int = 5) -> None:
        self.rng = random.Random(seed)
        self.people = people
        self.through: dict[str, datetime] = {p: START - timedelta(hours=1) for p in people}

    def advance(self, now: datetime) -> None:
        for person in self.people:
            roll = self.rng.random()
            if roll < 0.75:
                self.through[person] = now - timedelta(minutes=self.rng.randint(0, 10))
            # else: the phone was out of reach; the next upload brings it all


def run_policy(name: str, accounts: int, lookback: int, full_read_hours: float) -> Tally:
    tally = Tally()
    clock = {"now": START - CADENCE}

    def now() -> datetime:
        return clock["now"]

    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/volume.db"
        engine = make_engine(url)
        upgrade(engine)
        factory = session_factory(engine)
        cipher = Cipher(generate_key())
        google = GoogleSandboxState(seed=7, clock=now, token_lifetime_s=10**7)
        garmin = GarminSandbox(walker=Walker(seed=2026), clock=now)
        with (
            serve_in_thread(google_app(google)) as google_url,
            serve_in_thread(garmin_app(garmin)) as garmin_url,
            httpx.Client(timeout=30.0) as http,
        ):
            people = _link(factory, cipher, google, garmin, accounts)
            vault = CredentialStore(factory, cipher)
            adapters = {
                "google-health": GoogleHealthAdapter(
                    google_config(Settings(**google_hosts(google_url, google))), vault, http, now
                ),
                "garmin": GarminAdapter(
                    garmin_config(Settings(**garmin_hosts(garmin_url))), vault, now
                ),
            }
            policy = WindowPolicy(
                backfill_days=lookback + 1, lookback_days=lookback, full_read_hours=full_read_hours
            )
            ctx = SyncContext(factory, Sources(adapters.__getitem__), f"bench-{name}",
                              window=policy, backoff=BackoffPolicy(jitter_s=0),
                              clock=now)  # fmt: skip
            uploads = Uploads(sorted(people))
            _set_uploads(google, garmin, people, uploads)
            run_with(ctx, 4, force=True)  # the back-fill before the day: not counted
            cpu = time.process_time()
            for _ in range(SYNCS_PER_DAY):
                clock["now"] += CADENCE
                uploads.advance(clock["now"])
                _set_uploads(google, garmin, people, uploads)
                for result in run_with(ctx, 4, force=True).results:
                    assert result.outcome == "success", result
                    tally.points[result.provider] += result.points_fetched
                    tally.calls[result.provider] += result.api_calls
                    tally.syncs[result.provider] += 1
                    tally.full_reads[result.provider] += result.full_read
            tally.cpu_s = time.process_time() - cpu
            tally.matches = _stored_matches(factory, google, garmin, people, clock["now"])
        engine.dispose()
    return tally


def _link(factory, cipher, google, garmin, accounts: int) -> dict[str, tuple[str, object]]:
    """``accounts`` patients per provider; person -> (provider, sandbox user)."""
    people: dict[str, tuple[str, object]] = {}
    with transaction(factory) as session:
        session.add(Therapist(id="T1", name="Dr Bench", email="t1@example.org"))
        session.flush()
        for n in range(accounts):
            zone = ZONES[n % len(ZONES)]
            person = f"G{n:03d}"
            add_patient(session, person, "Pat", zone, "T1")
            user = google.add_user(person, time_zone=zone)
            link_account(session, cipher, person, "google-health",
                         google.stored_credentials(person), user.health_user_id)  # fmt: skip
            people[person] = ("google-health", user)
            person = f"M{n:03d}"
            add_patient(session, person, "Pat", zone, "T1")
            garmin_user = garmin.add_user(
                GarminUser(f"{person}@example.org", "pw", f"dn-{person}", tz=zone, person=person)
            )
            link_account(session, cipher, person, "garmin",
                         garmin.issue_tokens(garmin_user.display_name),
                         external_user_id=garmin_user.display_name)  # fmt: skip
            people[person] = ("garmin", garmin_user)
    return people


def _set_uploads(google, garmin, people, uploads: Uploads) -> None:
    for person, (provider, user) in people.items():
        if provider == "garmin":
            user.last_sync = uploads.through[person]
        else:
            user.uploaded_through = uploads.through[person]


def _stored_matches(factory, google, garmin, people, now: datetime) -> bool:
    """Every day of the last look-back as stored equals the provider's, row for row."""
    with factory() as session:
        rows = session.execute(
            select(
                StepIntervalRow.patient_id,
                StepIntervalRow.local_date,
                func.count(),
                func.sum(StepIntervalRow.steps),
            ).group_by(StepIntervalRow.patient_id, StepIntervalRow.local_date)
        ).all()
    stored = {(p, d): (c, s) for p, d, c, s in rows}
    for person, (provider, user) in people.items():
        today = now.astimezone(ZoneInfo(user.tz if provider == "garmin" else user.time_zone))
        for back in range(3):
            day = today.date() - timedelta(days=back)
            if stored.get((person, day), (0, 0)) != _truth(google, garmin, provider, user, day):
                print(f"  mismatch: {person} {day}", file=sys.stderr)
                return False
    return True


def _truth(google, garmin, provider: str, user, day: date) -> tuple[int, int]:
    if provider == "garmin":
        buckets = [
            b
            for b in garmin.buckets(user, day)
            if b["primaryActivityLevel"] != "none" or b["steps"]
        ]
        return len(buckets), sum(b["steps"] for b in buckets)
    points = google.day_points(user, day)
    return len(points), sum(p.steps for p in points)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--accounts", type=int, default=4, help="patients per provider")
    parser.add_argument("--lookback", type=int, default=3, help="look-back days")
    args = parser.parse_args()
    print(f"{args.accounts} patients per provider, {SYNCS_PER_DAY} syncs each over one "
          f"simulated day, look-back {args.lookback} days (shared 2-core machine)")  # fmt: skip
    old = run_policy("old", args.accounts, args.lookback, full_read_hours=1e-9)
    new = run_policy("new", args.accounts, args.lookback, full_read_hours=24)
    per_day: dict[str, dict[str, float]] = defaultdict(dict)
    for label, tally in (("old", old), ("new", new)):
        for provider in sorted(tally.syncs):
            days = tally.syncs[provider] / SYNCS_PER_DAY
            per_day[provider][label] = tally.points[provider] / days
            print(f"{label:>3} {provider:<13} points/patient-day "
                  f"{tally.points[provider] / days:>9.0f}  api calls/patient-day "
                  f"{tally.calls[provider] / days:>6.0f}  full reads/patient-day "
                  f"{tally.full_reads[provider] / days:>4.1f}")  # fmt: skip
        print(f"{label:>3} cpu {tally.cpu_s:.1f} s for the day's syncs; stored == provider: "
              f"{'yes' if tally.matches else 'NO'}")  # fmt: skip
    for provider, figures in sorted(per_day.items()):
        print(f"points per patient-day, old / new, {provider}: "
              f"{figures['old'] / figures['new']:.1f} x")  # fmt: skip
    total_old = sum(old.points.values())
    total_new = sum(new.points.values())
    print(f"points per patient-day, old / new, all: {total_old / total_new:.1f} x")


if __name__ == "__main__":
    main()
