"""The process's one APScheduler: thin jobs with stable ids, each calling one
service function.

Its job store is the default in-memory one, private to the process: replicas
coordinate through the database (leases on ``linked_accounts``), never through a
shared job store, and the whole schedule is rebuilt from code on every start.
A job whose work must happen once (the daily rules) claims each piece of it in
``job_runs`` (``ingest.jobclaims``); the others are safe to repeat (leased or
keyed rows) and run in every replica. Every job runs behind one shared
:class:`~stridewise.outage.Outage`: a lost database pauses them, never the process.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, date, datetime, time

import structlog
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import patient_zone
from delivery.config import DeliveryConfig, SmtpConfig
from delivery.queueing import queue_patient_messages, queue_urgent, queue_weekly
from delivery.worker import deliver_once
from ingest.crypto import Cipher
from ingest.db import transaction
from ingest.jobclaims import claim_many, finish
from ingest.models import Patient
from ingest.ops_models import Heartbeat
from ingest.partitions import ensure_month_partitions
from ingest.sync.engine import Sources
from stridewise.outage import Outage
from stridewise.portal.message_links import PortalLinks
from stridewise.settings import Settings
from stridewise.wiring import run_cycle, sources_for

log = structlog.get_logger("stridewise.scheduler")
# A tick still running when the next is due is skipped by design (max_instances=1);
# APScheduler would log a warning for each skip.
logging.getLogger("apscheduler.scheduler").setLevel(logging.ERROR)

SYNC_TICK_JOB = "sync-tick"
DAILY_RULES_JOB = "daily-rules"
DELIVERY_JOB = "delivery-tick"
WEEKLY_REPORTS_JOB = "weekly-reports"
PARTITIONS_JOB = "partitions-ahead"
JOB_DEFAULTS = {"coalesce": True, "max_instances": 1, "misfire_grace_time": 60}
# The rules job runs twice in the morning hour; a claim still unfinished after this
# long is a crashed replica's, and the second run takes it over.
RULES_LEASE_SECONDS = 20 * 60
# Creating a month's partition takes seconds; a claim older than this is a crashed one.
PARTITIONS_LEASE_SECONDS = 10 * 60


def sync_tick(
    factory: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    sources: Sources,
    stopping: threading.Event,
) -> None:
    """Claim and sync what is due; cheap when nothing is, safe in every replica."""
    heartbeat = Heartbeat(factory, worker_id, settings.sync_tick_seconds)
    heartbeat()  # what stridewise doctor reads; refreshed as a long cycle goes on
    report = run_cycle(factory, settings, worker_id, sources=sources, stopping=stopping.is_set,
                       on_result=heartbeat)  # fmt: skip
    if report.results:
        log.info(
            "sync.cycle",
            worker=worker_id,
            accounts=len(report.results),
            seconds=round(report.seconds, 2),
            **dict(report.outcomes),
        )


def build_scheduler(
    factory: sessionmaker[Session],
    settings: Settings,
    worker_id: str,
    *,
    blocking: bool = False,
    sources: Sources | None = None,
    stopping: threading.Event | None = None,
) -> BaseScheduler:
    """The scheduler with every periodic job; started by ``serve`` and ``worker``.
    Setting ``stopping`` makes a running sync tick finish what it started and
    claim nothing more (a graceful shutdown)."""
    scheduler_class = BlockingScheduler if blocking else BackgroundScheduler
    scheduler = scheduler_class(timezone=UTC, job_defaults=JOB_DEFAULTS)
    outage = Outage()
    scheduler.add_job(
        outage.guard(sync_tick, SYNC_TICK_JOB),
        "interval",
        seconds=settings.sync_tick_seconds,
        id=SYNC_TICK_JOB,
        name="claim and sync due accounts",
        replace_existing=True,
        next_run_time=datetime.now(UTC),
        args=(
            factory,
            settings,
            worker_id,
            sources or sources_for(factory, settings),
            stopping or threading.Event(),
        ),
    )
    scheduler.add_job(
        outage.guard(daily_rules_tick, DAILY_RULES_JOB),
        "cron",
        minute="5,35",
        id=DAILY_RULES_JOB,
        name="evaluate the rules for patients whose morning it is",
        replace_existing=True,
        args=(factory, settings.daily_rules_hour, worker_id),
    )
    scheduler.add_job(
        outage.guard(delivery_tick, DELIVERY_JOB),
        "interval",
        seconds=settings.sync_tick_seconds,
        id=DELIVERY_JOB,
        name="queue urgent alerts and send what the outbox holds",
        replace_existing=True,
        args=(factory, delivery_config(settings, factory), worker_id),
    )
    scheduler.add_job(
        outage.guard(weekly_reports_tick, WEEKLY_REPORTS_JOB),
        "cron",
        minute=10,
        id=WEEKLY_REPORTS_JOB,
        name="queue last week's report for therapists whose Monday 08:00 has come",
        replace_existing=True,
        args=(factory,),
    )
    scheduler.add_job(
        outage.guard(partitions_tick, PARTITIONS_JOB),
        "cron",
        hour="*/6",
        minute=25,
        id=PARTITIONS_JOB,
        name="create the coming months' step_intervals partitions (PostgreSQL)",
        replace_existing=True,
        args=(factory, worker_id),
    )
    return scheduler


def patients_in_their_morning(
    factory: sessionmaker[Session], hour: int, now: datetime
) -> dict[str, date]:
    """Patients whose local clock shows ``hour`` at ``now`` (UTC when no zone is
    known), with their local date."""
    with factory() as session:
        rows = session.execute(select(Patient.id, Patient.timezone)).all()
    local = {patient_id: now.astimezone(patient_zone(zone)) for patient_id, zone in rows}
    return {patient_id: at.date() for patient_id, at in local.items() if at.hour == hour}


def daily_rules_tick(
    factory: sessionmaker[Session], hour: int, worker_id: str, now: datetime | None = None
) -> list[str]:
    """Evaluate each patient once per local date, in their local morning. Every replica
    runs this; each evaluates only the patients whose (patient, date) it claimed in
    ``job_runs``, so a patient is evaluated and messaged by one replica. Returns them."""
    from rules.evaluate import evaluate

    now = now or datetime.now(UTC)
    keys = {f"{pid}/{day.isoformat()}": pid for pid, day in
            patients_in_their_morning(factory, hour, now).items()}  # fmt: skip
    with transaction(factory) as session:
        won = claim_many(session, DAILY_RULES_JOB, keys, worker_id, now, RULES_LEASE_SECONDS)
    mine = [keys[key] for key in won]
    if not mine:
        return []
    # evaluate isolates each patient: failures are logged, the others evaluated
    result = evaluate(factory, patient_ids=mine, now=now)
    if result.failures:
        log.warning("rules.failures", failed=len(result.failures), evaluated=len(mine))
    queue_after_rules(factory, mine)
    failed = [key for key in won if keys[key] in result.failures]
    with transaction(factory) as session:  # a crash before here: taken over after the lease
        finish(session, DAILY_RULES_JOB, failed, worker_id, "failed", datetime.now(UTC))
        done = [key for key in won if keys[key] not in result.failures]
        finish(session, DAILY_RULES_JOB, done, worker_id, "ok", datetime.now(UTC))
    return mine


def delivery_config(
    settings: Settings, factory: sessionmaker[Session] | None = None
) -> DeliveryConfig:
    """What the outbox worker needs from settings (no key: webhooks cannot be signed;
    with the ``factory``, patient messages carry their own-data and relink links)."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return DeliveryConfig(
        smtp=SmtpConfig(
            host=settings.smtp_host,
            port=settings.smtp_port,
            security=settings.smtp_security,
            username=settings.smtp_username,
            password=password,
        ),
        mail_from=settings.mail_from,
        max_attempts=settings.delivery_max_attempts,
        webhook_timeout_s=settings.webhook_timeout_seconds,
        quiet_start=time.fromisoformat(settings.quiet_hours_start),
        quiet_end=time.fromisoformat(settings.quiet_hours_end),
        public_url=settings.public_url,
        cipher=Cipher(settings.secret_key) if settings.secret_key else None,
        links=PortalLinks(factory, settings.public_url, settings.invitation_days)
        if factory is not None
        else None,
    )


def queue_after_rules(factory: sessionmaker[Session], patient_ids: list[str]) -> None:
    """Each patient's message of the day and any urgent therapist alert, once rules ran."""
    now = datetime.now(UTC)
    with transaction(factory) as session:
        queue_patient_messages(session, patient_ids, now)
        queue_urgent(session, now)


def delivery_tick(factory: sessionmaker[Session], config: DeliveryConfig, worker_id: str) -> None:
    """Send what is due; safe in every replica (rows are leased)."""
    with transaction(factory) as session:
        queue_urgent(session, datetime.now(UTC))
    report = deliver_once(factory, config, worker_id)
    if report.outcomes:
        log.info("delivery.cycle", worker=worker_id, **dict(report.outcomes))


def weekly_reports_tick(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as session:
        queue_weekly(session, datetime.now(UTC))


def partitions_tick(
    factory: sessionmaker[Session], worker_id: str, now: datetime | None = None
) -> list[date] | None:
    """Keep ``MONTHS_AHEAD`` months of ``step_intervals`` partitions ahead, once per
    UTC day: claimed under the date, and run every 6 hours so that a claim left
    unfinished by a failure or a crash is taken over after its lease the same day.
    The months created, or None when the claim is another's (or done). Nothing to
    create on SQLite."""
    now = now or datetime.now(UTC)
    key = now.date().isoformat()
    with transaction(factory) as session:
        won = claim_many(session, PARTITIONS_JOB, [key], worker_id, now, PARTITIONS_LEASE_SECONDS)
    if not won:
        return None
    with transaction(factory) as session:  # a failure leaves the claim to be taken over
        created = ensure_month_partitions(session.connection(), now.date())
        finish(session, PARTITIONS_JOB, won, worker_id, "ok", datetime.now(UTC))
    if created:
        log.info("partitions.created", months=[m.isoformat() for m in created])
    return created
