"""``stridewise sync``, ``status``, ``worker`` and ``serve``: the operator's view of
the sync engine and the long-running processes that drive it."""

from __future__ import annotations

import signal
import threading
from datetime import datetime

import structlog
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import NotFound
from ingest.crypto import Cipher
from ingest.models import LinkedAccount, LinkStatus, SyncRun
from ingest.patients import get_patient
from ingest.sync.claims import count_claimable
from ingest.sync.push import mark_due, request_full_read
from ingest.sync.runner import CycleReport, worker_name
from stridewise.cli.common import console, current_app, parse_date
from stridewise.settings import Settings
from stridewise.wiring import run_cycle

log = structlog.get_logger("stridewise.cli")


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC") if moment else "-"


def summary_table(report: CycleReport) -> Table:
    table = Table("patient", "provider", "outcome", "window", "intervals", "totals",
                  "skipped", "api calls", "seconds", "error", title="sync summary")  # fmt: skip
    for r in sorted(report.results, key=lambda r: (r.patient_id, r.provider)):
        window = f"{r.window.first}..{r.window.last}" if r.window else "-"
        table.add_row(r.patient_id, r.provider, r.outcome, window, str(r.intervals_written),
                      str(r.totals_written), str(r.rejected), str(r.api_calls),
                      f"{r.seconds:.2f}", r.error_kind or "")  # fmt: skip
    return table


def run_and_show_cycle(
    factory: sessionmaker[Session],
    settings: Settings,
    out: Console,
    worker: str = "demo",
    force: bool = True,
) -> CycleReport:
    """One full cycle (the scheduler tick's code path) over every due account, or every
    active one when ``force``d, then its summary table."""
    report = run_cycle(factory, settings, worker, force=force)
    out.print(summary_table(report))
    return report


def sync_cmd(
    patient: str = typer.Option(None, "--patient", help="Sync this patient now, due or not."),
    since: str = typer.Option(None, "--since", help="Re-read from this date (YYYY-MM-DD)."),
    all_: bool = typer.Option(False, "--all", help="Sync every active account now, due or not."),
    full: bool = typer.Option(
        False,
        "--full",
        help="Re-read the whole look-back's minute data (routine syncs read only what can "
        "have changed; a full read runs once a day by itself). Syncs every active "
        "account, or --patient's, now.",
    ),
) -> None:
    """Run syncs in the foreground and show what each did; exits 1 if any failed.

    Without options, syncs the accounts that are due (as one scheduler tick would).

    Example: stridewise sync --patient P1 --since 2026-03-01
    """
    settings = current_app().settings
    factory = current_app().factory
    first = parse_date(since, "--since") if since else None
    if patient:
        with factory() as session, session.begin():
            get_patient(session, patient)
            if not session.scalar(
                select(func.count()).where(
                    LinkedAccount.patient_id == patient,
                    LinkedAccount.status == LinkStatus.ACTIVE.value,
                )
            ):
                raise NotFound(f"patient {patient!r} has no active linked account to sync")
            # A push as well: should a worker hold the account right now, it stays
            # due and runs again as soon as that sync ends.
            mark_due(session, patient)
    if full:
        with factory() as session, session.begin():
            request_full_read(session, patient)
    forced = bool(patient or all_ or full)
    total = count_claimable(factory, utcnow(), patient_id=patient, force=forced)
    progress = Progress(TextColumn("syncing"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=console, transient=True)  # fmt: skip
    with progress:
        task = progress.add_task("sync", total=total or None)
        report = run_cycle(factory, settings, worker_name(), patient_id=patient, force=forced,
                           since=first, on_result=lambda _r: progress.advance(task))  # fmt: skip
    if not report.results:
        if patient:
            console.print(f"{patient}'s accounts are being synced by a worker right now; "
                          "they are marked due and will run again when it finishes")  # fmt: skip
        else:
            console.print("nothing was due; use --all or --patient to sync anyway")
        return
    console.print(summary_table(report))
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(report.outcomes.items()))
    console.print(f"{len(report.results)} accounts in {report.seconds:.1f} s: {counts}")
    if report.outcomes.get("failed"):
        raise typer.Exit(1)


def status_cmd(
    patient: str = typer.Option(None, "--patient", help="Only this patient's accounts."),
) -> None:
    """Show each linked account's sync state: health, last success, next due, last run.

    The last run is ``running`` while a sync holds it, or ``abandoned`` when a worker
    died during it.

    Example: stridewise status --patient P1
    """
    factory = current_app().factory
    query = select(LinkedAccount, *_last_run()).order_by(
        LinkedAccount.patient_id, LinkedAccount.provider
    )
    if patient:
        query = query.where(LinkedAccount.patient_id == patient)
    table = Table("patient", "provider", "state", "synced through", "last success",
                  "next due", "failures", "last error", "last run", "leased by")  # fmt: skip
    now = utcnow()
    with factory() as session:
        for a, outcome, at in session.execute(query):
            state = "needs relink" if a.status == LinkStatus.NEEDS_RELINK.value else a.status
            run = f"{outcome} {_when(at)}" if outcome else "-"
            # A lease that ran out leases nothing (its worker died or stalled).
            held = a.lease_owner if a.lease_expires and a.lease_expires > now else ""
            table.add_row(a.patient_id, a.provider, state, str(a.synced_through or "-"),
                          _when(a.last_success_at), _when(a.next_sync_due),
                          str(a.consecutive_failures), a.last_error_kind or "", run,
                          held)  # fmt: skip
    console.print(table)


def _last_run():
    """The account's newest run: its outcome and when it ended (or began, while
    running); one index probe per account."""
    newest = (
        select(SyncRun)
        .where(SyncRun.account_id == LinkedAccount.id)
        .order_by(SyncRun.started_at.desc())
        .limit(1)
        .correlate(LinkedAccount)
    )
    return (
        newest.with_only_columns(SyncRun.outcome).scalar_subquery(),
        newest.with_only_columns(
            func.coalesce(SyncRun.finished_at, SyncRun.started_at)
        ).scalar_subquery(),
    )


def _stop_on_sigterm(scheduler, stopping: threading.Event) -> None:
    """SIGTERM (what orchestrators send): finish the running syncs, claim no more."""

    def stop(*_) -> None:
        stopping.set()
        scheduler.shutdown(wait=False)

    signal.signal(signal.SIGTERM, stop)


def worker_cmd() -> None:
    """Run the scheduler without the web app: sync due accounts until stopped.

    Run as many as you like against one PostgreSQL database; they share the work.

    Example: stridewise worker
    """
    from stridewise.jobs import build_scheduler  # delivery and reports: only when run

    app = current_app()
    settings = app.settings
    Cipher(settings.secret_key)  # refuse to start without the key, before any work
    factory = app.factory
    worker = worker_name()
    stopping = threading.Event()
    scheduler = build_scheduler(factory, settings, worker, blocking=True, stopping=stopping)
    _stop_on_sigterm(scheduler, stopping)
    log.info("worker.started", worker=worker, concurrency=settings.sync_concurrency)
    scheduler.start()


def serve_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Interface to listen on."),
    port: int = typer.Option(8000, "--port", help="Port to listen on."),
) -> None:
    """Run the web app and the scheduler in one process.

    Example: stridewise serve --host 0.0.0.0 --port 8000
    """
    import uvicorn

    from stridewise.jobs import build_scheduler
    from stridewise.web.app import create_app

    app = current_app()
    settings = app.settings
    Cipher(settings.secret_key)  # refuse to start without the key
    factory = app.factory
    worker = worker_name()
    stopping = threading.Event()
    scheduler = build_scheduler(factory, settings, worker, stopping=stopping)
    scheduler.start()
    log.info("serve.started", worker=worker, host=host, port=port)
    try:
        uvicorn.run(create_app(app, scheduler), host=host, port=port, log_level="warning")
    finally:
        stopping.set()
        scheduler.shutdown(wait=False)
