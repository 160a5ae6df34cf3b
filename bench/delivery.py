"""Delivery throughput: a clinic's week of messages composed and sent through the outbox
to a loopback SMTP server (aiosmtpd), beside bare ``smtplib`` sends of the very same
messages in the same run; and weekly reports rendered per second (HTML, PDF).

    python bench/delivery.py [--patients 40] [--therapists 4] [--full]

``--full`` is the issue's clinic: 2,000 patients and 40 therapists. Each patient gets
one message a day for 7 days (a fresh finding every morning: 7 x patients messages),
each therapist the weekly report with its PDF and CSV attached. Patients have two
weeks of hourly step data (the report's figures come from the rules' day table).
The outbox figure includes claiming, composing (rendering the words, the report,
charts, PDF), sending and recording; the baseline only sends the finished bytes.
"""

from __future__ import annotations

import argparse
import smtplib
import socket
import sys
import tempfile
import time as clock
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

# This script shares its name with the ``delivery`` package: keep its folder off the path.
sys.path[:] = [p for p in sys.path if Path(p).resolve() != Path(__file__).resolve().parent]

from aiosmtpd.controller import Controller  # noqa: E402

from core.schema import StepBatch, StepInterval  # noqa: E402
from delivery.config import DeliveryConfig, SmtpConfig  # noqa: E402
from delivery.queueing import queue_patient_messages, queue_weekly  # noqa: E402
from delivery.worker import deliver_once  # noqa: E402
from ingest.db import make_engine, session_factory, transaction, upgrade  # noqa: E402
from ingest.models import Patient, Therapist  # noqa: E402
from ingest.programme_models import Alert  # noqa: E402
from ingest.store import write_batch  # noqa: E402
from reports.render import weekly_html, weekly_pdf  # noqa: E402
from reports.weekly import build_weekly  # noqa: E402
from rules.enrolment import start_programme  # noqa: E402

MONDAY = date(2026, 11, 16)
ZONE = "Europe/London"


class Sink:
    """Keeps each accepted message's envelope and bytes (the baseline replays them)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, list[str], bytes]] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
        return "250 OK"


def seed(factory, patients: int, therapists: int) -> list[str]:
    ids = [f"P{i:05d}" for i in range(patients)]
    with transaction(factory) as session:
        for t in range(therapists):
            session.add(Therapist(id=f"T{t:03d}", name=f"Therapist {t}", email=f"t{t}@clinic.test"))
        session.flush()
        for i, pid in enumerate(ids):
            session.add(
                Patient(
                    id=pid,
                    name=f"Patient {i}",
                    timezone=ZONE,
                    therapist_id=f"T{i % therapists:03d}",
                    email=f"{pid}@home.test",
                )
            )
        session.flush()
        for pid in ids:
            start_programme(session, pid, MONDAY - timedelta(days=7))
    tz = ZoneInfo(ZONE)
    for chunk in range(0, patients, 200):
        batch = StepBatch()
        for i, pid in enumerate(ids[chunk : chunk + 200], start=chunk):
            for back in range(14):
                day = MONDAY + timedelta(days=6 - back)
                if (i + back) % 9 == 0:
                    continue  # a missing day now and then
                for hour in range(8, 20):
                    start = datetime.combine(day, time(hour), tz).astimezone(UTC)
                    steps = 300 + (i * 37 + hour * 11 + back * 5) % 600
                    batch.intervals.append(
                        StepInterval(
                            pid, "csv", "watch", start, start + timedelta(hours=1), 0, steps
                        )
                    )
        with transaction(factory) as session:
            write_batch(session, batch)
    return ids


def week_of_messages(factory, config, ids: list[str]) -> tuple[int, float]:
    """Seven mornings: a fresh finding per patient, queued and delivered; the sending
    part is timed. Returns (messages sent, seconds)."""
    sent, seconds = 0, 0.0
    for offset in range(7):
        morning = datetime.combine(MONDAY + timedelta(days=7 + offset), time(9), UTC)
        with transaction(factory) as session:
            session.add_all(
                Alert(
                    patient_id=pid,
                    rule="flare",
                    period=f"d{offset}",
                    audience="patient",
                    period_end=morning.date(),
                    severity="info",
                    facts={},
                    status="open",
                    raised_on=morning.date(),
                    created_at=morning,
                )
                for pid in ids
            )
        with transaction(factory) as session:
            queue_patient_messages(session, ids, morning, summary=False)
        started = clock.perf_counter()
        sent += deliver_once(factory, config, "bench", morning).sent
        seconds += clock.perf_counter() - started
    return sent, seconds


def digests(factory, config) -> tuple[int, float]:
    at = datetime.combine(MONDAY + timedelta(days=7), time(8, 30), UTC)
    with transaction(factory) as session:
        queue_weekly(session, at)
    started = clock.perf_counter()
    sent = deliver_once(factory, config, "bench", at).sent
    return sent, clock.perf_counter() - started


def bare_smtplib(port: int, messages: list[tuple[str, list[str], bytes]]) -> float:
    started = clock.perf_counter()
    with smtplib.SMTP("127.0.0.1", port) as smtp:
        for sender, recipients, content in messages:
            smtp.sendmail(sender, recipients, content)
    return clock.perf_counter() - started


def reports_per_second(factory, therapists: int) -> tuple[float, float]:
    now = datetime.combine(MONDAY + timedelta(days=7), time(8, 30), UTC)
    ids = [f"T{t:03d}" for t in range(therapists)]
    started = clock.perf_counter()
    built = []
    with factory() as session:
        for tid in ids:
            report = build_weekly(session, tid, MONDAY, now)
            built.append((report, weekly_html(report)[0]))
    html_rate = len(ids) / (clock.perf_counter() - started)
    started = clock.perf_counter()
    for report, html in built:
        weekly_pdf(report, html)
    pdf_seconds = clock.perf_counter() - started
    # A PDF needs the HTML first: its rate counts both.
    return html_rate, 1 / (1 / html_rate + pdf_seconds / len(ids))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=40)
    parser.add_argument("--therapists", type=int, default=4)
    parser.add_argument("--full", action="store_true", help="2,000 patients, 40 therapists")
    parser.add_argument("--database-url", help="default: a new SQLite file")
    args = parser.parse_args()
    if args.full:
        args.patients, args.therapists = 2000, 40
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(args.database_url or f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        factory = session_factory(engine)
        t0 = clock.perf_counter()
        ids = seed(factory, args.patients, args.therapists)
        print(
            f"clinic: {args.patients:,} patients, {args.therapists} therapists, "
            f"seeded in {clock.perf_counter() - t0:.1f} s ({engine.dialect.name})"
        )
        sink = Sink()
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        try:
            config = DeliveryConfig(
                smtp=SmtpConfig("127.0.0.1", port),
                mail_from="b@clinic.test",
                quiet_start=time(0),
                quiet_end=time(0),
                batch=200,
            )
            daily, daily_s = week_of_messages(factory, config, ids)
            weekly, weekly_s = digests(factory, config)
            sent = list(sink.received)
            bare_s = bare_smtplib(port, sent)
            daily_bytes = sent[:daily]
            bare_daily_s = bare_smtplib(port, daily_bytes)
        finally:
            controller.stop()
        total = daily + weekly
        rate = total / (daily_s + weekly_s)
        bare = len(sent) / bare_s
        print(
            f"daily messages:   {daily:,} in {daily_s:.1f} s = {daily / daily_s:,.0f}/s "
            f"(bare smtplib {len(daily_bytes) / bare_daily_s:,.0f}/s)"
        )
        print(
            f"weekly reports:   {weekly} emails (HTML + charts + PDF + CSV) in {weekly_s:.1f} s "
            f"= {weekly / weekly_s:.2f}/s"
        )
        print(f"outbox, all:      {total:,} messages = {rate:,.0f}/s composed and sent")
        print(f"bare smtplib:     the same {len(sent):,} messages = {bare:,.0f}/s sent")
        print(f"ratio outbox / bare smtplib: {rate / bare:.3f}")
        html_rate, pdf_rate = reports_per_second(factory, args.therapists)
        per = args.patients // args.therapists
        print(f"reports ({per} patients each): {html_rate:.2f}/s HTML, {pdf_rate:.2f}/s PDF")
        engine.dispose()


if __name__ == "__main__":
    main()
