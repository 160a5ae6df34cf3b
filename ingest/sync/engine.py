"""Sync one claimed account: window, fetch, write day by day, record the run.

Crash safety comes from ordering: each local day's rows are written in their
own transaction together with the cursor (``synced_through``) that covers
them, so the cursor is never ahead of committed data, and re-writing a day is
harmless (the write path is idempotent). A crash at any point leaves at most
the unfinished days to repeat once the lease runs out. The claim recorded the
run as ``running``; the last transaction turns that row into the outcome, so a
crashed sync stays visible until the sweep closes it as ``abandoned``.

Minute data is fetched in full only on the first sync, once a day
(``full_read_at``) and on demand; routine syncs ask for less
(:mod:`.scope`, :class:`core.source.MinuteScope`). The cursor
for that, ``synced_until``, moves only with the run's final transaction, so a
crash leaves it behind and the next sync reads more, never less. Partial-day
fetches are safe because the write path only upserts: it never deletes the
rows of a day it was given part of.

This module owns what errors mean for an account (see :mod:`.backoff`); it
logs when an account starts failing and when it recovers, not on every poll.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from core.clock import utcnow
from core.errors import AuthRevoked, ProviderError, RateLimited
from core.schema import StepBatch
from core.source import AccountRef, DateWindow, FetchResult, StepSource
from ingest.db import database_unavailable
from ingest.models import LinkStatus
from ingest.store import WriteReport, write_batch
from ingest.sync.backoff import BackoffPolicy, next_poll, next_retry
from ingest.sync.claims import ClaimedAccount, LeaseLost, renew
from ingest.sync.outcome import record_failure, record_success
from ingest.sync.scope import minute_scope
from ingest.sync.window import WindowPolicy, sync_window

log = structlog.get_logger("stridewise.sync")

INTERNAL = "internal"
DATABASE = "database"  # the database could not be reached mid-sync
LEASE_LOST = "lease_lost"
_MAX_ERROR_CHARS = 500


class PrimedVault(Protocol):
    """A credential vault that can be handed the copy a claim read (``primed``)."""

    def primed(
        self, account_id: int, stored: bytes | None, version: int | None
    ) -> AbstractContextManager[None]: ...


class Sources:
    """One adapter per provider per process, built on first use and shared by
    the sync threads (adapters hold an HTTP client with its connection pool)."""

    def __init__(
        self, build: Callable[[str], StepSource], credentials: PrimedVault | None = None
    ) -> None:
        self._build = build
        # The vault the adapters load from, when it can take the claim's copy.
        self.credentials = credentials
        self._sources: dict[str, StepSource] = {}
        self._lock = threading.Lock()

    def get(self, provider: str) -> StepSource:
        with self._lock:
            if provider not in self._sources:
                self._sources[provider] = self._build(provider)
            return self._sources[provider]


@dataclass(slots=True)
class SyncContext:
    """Everything a sync needs besides the account; one per worker process."""

    factory: sessionmaker[Session]
    sources: Sources
    worker: str
    window: WindowPolicy = field(default_factory=WindowPolicy)
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    lease_seconds: float = 300
    clock: Callable[[], datetime] = utcnow
    rng: random.Random = field(default_factory=random.Random)


@dataclass(slots=True)
class SyncResult:
    account_id: int
    patient_id: str
    provider: str
    outcome: str  # success / partial / failed / lease_lost
    window: DateWindow | None = None
    error_kind: str | None = None
    intervals_written: int = 0
    totals_written: int = 0
    rejected: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    started_at: datetime | None = None
    run_id: int | None = None  # the SyncRun row, once recorded as running
    full_read: bool = False  # all of the window's minute data was asked for
    points_fetched: int = 0  # intervals the provider sent (benchmarks count them)
    data_through: datetime | None = None  # FetchResult.data_through


def day_batches(batch: StepBatch) -> list[tuple[date, StepBatch]]:
    """The batch split by local date, oldest first; devices go with the first day."""
    days: dict[date, StepBatch] = {}
    offsets: dict[int, timedelta] = {}
    for interval in batch.intervals:
        # ``interval.local_date``, inlined: adapters hand over UTC starts, and a
        # batch has few distinct offsets.
        start, offset = interval.start, interval.utc_offset_s
        if start.tzinfo is not UTC:
            start = start.astimezone(UTC)
        if offset not in offsets:
            offsets[offset] = timedelta(seconds=offset)
        day = (start + offsets[offset]).date()
        days.setdefault(day, StepBatch()).intervals.append(interval)
    for total in batch.daily_totals:
        days.setdefault(total.local_date, StepBatch()).daily_totals.append(total)
    ordered = sorted(days.items())
    if batch.devices:
        if not ordered:
            return [(date.min, StepBatch(devices=list(batch.devices)))]
        ordered[0][1].devices.extend(batch.devices)
    return ordered


def sync_account(
    ctx: SyncContext, account: ClaimedAccount, since: date | None = None
) -> SyncResult:
    """Sync one account this worker has leased; never raises for provider trouble."""
    started, clock_start = ctx.clock(), time.perf_counter()
    result = SyncResult(account.id, account.patient_id, account.provider, "running")
    result.started_at, result.run_id = started, account.run_id
    try:
        source = ctx.sources.get(account.provider)
        result.window = sync_window(
            started,
            account.timezone,
            account.synced_through,
            account.earliest_provisional,
            _policy_for(ctx.window, source),
            since,
        )
        ref = AccountRef(
            account.id,
            account.patient_id,
            account.provider,
            account.external_user_id,
            account.timezone,
        )
        scope = minute_scope(ctx.factory, account, result.window, started, ctx.window, since)
        result.full_read = scope is None
        if ctx.sources.credentials is None:
            fetched = source.fetch(ref, result.window, scope)
        else:
            with ctx.sources.credentials.primed(
                account.id, account.credentials, account.credentials_version
            ):
                fetched = source.fetch(ref, result.window, scope)
        result.api_calls = fetched.api_calls
        result.points_fetched = len(fetched.batch.intervals)
        result.data_through = fetched.data_through
        _write_days(ctx, account, result, fetched, clock_start)
    except LeaseLost:
        result.outcome, result.error_kind = "lease_lost", LEASE_LOST
        log.warning("sync.lease_lost", account_id=account.id, worker=ctx.worker)
    except ProviderError as err:
        _record_failure(ctx, account, result, err, clock_start)
    except Exception as err:  # the engine's boundary: one bad account never stops the rest
        # No traceback in the log: database errors quote their parameters (health
        # data). The message is kept on the run record (SyncRun.error) instead.
        if database_unavailable(err):
            log.warning("sync.database_unavailable", account_id=account.id,
                        error_type=type(err).__name__)  # fmt: skip
        else:
            log.error("sync.internal_error", account_id=account.id, error_type=type(err).__name__)
        _record_failure(ctx, account, result, err, clock_start)
    return result


def _policy_for(policy: WindowPolicy, source: StepSource) -> WindowPolicy:
    """An adapter may ask for a longer look-back (``lookback_days``: its devices
    upload late) or declare how far back its provider serves (``max_history_days``)."""
    lookback = max(policy.lookback_days, getattr(source, "lookback_days", 0))
    limit = getattr(source, "max_history_days", policy.provider_limit_days)
    if (lookback, limit) == (policy.lookback_days, policy.provider_limit_days):
        return policy
    return replace(policy, lookback_days=lookback, provider_limit_days=limit)


def _write_days(
    ctx: SyncContext,
    account: ClaimedAccount,
    result: SyncResult,
    fetched: FetchResult,
    clock_start: float,
) -> None:
    window = result.window
    cursor = account.synced_through
    days = day_batches(fetched.batch)
    reports: list[WriteReport] = []
    # The claim read the account's patient; it cannot vanish without the account
    # (cascade), and then the fenced writes below fail and roll back.
    patients = {account.patient_id}
    for day, batch in days[:-1]:
        with ctx.factory() as session, session.begin():
            reports.append(write_batch(session, batch, patients))
            cursor = _advanced(cursor, min(day, window.last))
            renew(session, account.id, ctx.worker, ctx.clock(), ctx.lease_seconds, cursor)
    with ctx.factory() as session, session.begin():
        if days:
            reports.append(write_batch(session, days[-1][1], patients))
        result.intervals_written = sum(r.intervals_changed for r in reports)
        result.totals_written = sum(r.totals_changed for r in reports)
        problems = [r.reason for report in reports for r in report.rejected] + fetched.skipped
        result.rejected = len(problems)
        result.outcome = "partial" if problems else "success"
        _finish(
            session,
            ctx,
            account,
            result,
            clock_start,
            error="; ".join(problems) or None,
            cursor=_advanced(cursor, window.last),
        )
    if account.consecutive_failures:
        log.info("sync.recovered", account_id=account.id, provider=account.provider)


def _advanced(cursor: date | None, day: date) -> date:
    return day if cursor is None or day > cursor else cursor


def _record_failure(
    ctx: SyncContext,
    account: ClaimedAccount,
    result: SyncResult,
    err: Exception,
    clock_start: float,
) -> None:
    if isinstance(err, ProviderError):
        kind = err.kind
    else:
        kind = DATABASE if database_unavailable(err) else INTERNAL
    result.outcome, result.error_kind = "failed", kind
    message = f"{type(err).__name__}: {err}"
    retry_after = err.retry_after if isinstance(err, RateLimited) else None
    try:
        with ctx.factory() as session, session.begin():
            _finish(session, ctx, account, result, clock_start, message, retry_after=retry_after)
    except LeaseLost:
        result.outcome, result.error_kind = "lease_lost", LEASE_LOST
        return
    except SQLAlchemyError as db_err:
        # Nothing more to do without the database: the run stays ``running`` and
        # the lease runs out, after which the sweep marks it abandoned.
        log.warning("sync.unrecorded", account_id=account.id, error_type=type(db_err).__name__)
        return
    if isinstance(err, AuthRevoked):
        log.warning("sync.auth_revoked", account_id=account.id, provider=account.provider)
    elif account.consecutive_failures == 0:
        log.warning(
            "sync.failing", account_id=account.id, provider=account.provider, error_kind=kind
        )


def _finish(
    session: Session,
    ctx: SyncContext,
    account: ClaimedAccount,
    result: SyncResult,
    clock_start: float,
    error: str | None,
    cursor: date | None = None,
    retry_after: float | None = None,
) -> None:
    """Record the run's outcome and the account's new state, and free the lease, in one go."""
    now = ctx.clock()
    result.seconds = time.perf_counter() - clock_start
    window = result.window or DateWindow(now.date(), now.date())
    error = error[:_MAX_ERROR_CHARS] if error else None
    params = {
        "p_account_id": account.id,
        "p_window_start": window.first,
        "p_window_end": window.last,
        "p_started_at": result.started_at,
        "p_finished_at": now,
        "p_outcome": result.outcome,
        "p_error_kind": result.error_kind,
        "p_error": error,
        "p_intervals_written": result.intervals_written,
        "p_totals_written": result.totals_written,
        "p_rejected": result.rejected,
        "p_api_calls": result.api_calls,
        "p_worker": ctx.worker,
        "p_updated_at": now,
    }
    if result.outcome in ("success", "partial"):
        record_success(session, result.run_id, params | {
            "p_synced_through": cursor,
            "p_due_at_claim": account.due_at_claim,
            "p_next_due": next_poll(now, ctx.backoff, ctx.rng),
            # Read up to here: the next routine sync starts (less the overlap) there.
            "p_synced_until": _read_through(account, result),
            "p_changed_at_claim": account.changed_from,
            "p_was_failing": account.consecutive_failures > 0,
            "p_full_read_at": result.started_at if result.full_read else None,
        })  # fmt: skip
        return
    failures = account.consecutive_failures + 1
    revoked = result.error_kind == AuthRevoked.kind
    record_failure(session, result.run_id, params | {
        "p_consecutive_failures": failures,
        "p_last_error_kind": result.error_kind,
        "p_last_error": error,
        "p_status": LinkStatus.NEEDS_RELINK.value if revoked else None,
        "p_next_due": None if revoked
        else next_retry(now, failures, ctx.backoff, ctx.rng, retry_after),
    })  # fmt: skip


def _read_through(account: ClaimedAccount, result: SyncResult) -> datetime | None:
    """The newest data instant read so far, never after this sync's start (data
    seen later may still be arriving); unchanged when this fetch saw none."""
    seen = result.data_through
    if seen is None or result.started_at is None:
        return account.synced_until
    seen = min(seen, result.started_at)
    return seen if account.synced_until is None else max(seen, account.synced_until)
