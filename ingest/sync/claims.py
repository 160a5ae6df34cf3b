"""Leases on ``linked_accounts``: how replicas share the work without a coordinator.

A worker claims due accounts by writing its name and an expiry into their rows
in one statement. On PostgreSQL the candidate rows are picked with
``FOR UPDATE SKIP LOCKED``, so concurrent claimers never wait on each other nor
take the same row; on SQLite the statement runs under the database's single
write lock, which serialises claimers. A lease is also a fence: every later
write of the sync checks ``lease_owner`` still names this worker, so a worker
that stalled past its expiry cannot overwrite the one that took over. A worker
that dies simply lets its leases run out; the accounts are then due again, and
the runs its claims recorded as ``running`` are closed as ``abandoned`` by
:func:`close_abandoned`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import delete, func, insert, literal_column, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from ingest.db import leasable
from ingest.models import DailyTotalRow, LinkedAccount, LinkStatus, Patient, SyncRun

ABANDONED = "abandoned"
LEASE_EXPIRED = "lease_expired"


class LeaseLost(Exception):
    """Another worker owns the account now; this sync must stop writing."""


@dataclass(frozen=True, slots=True)
class ClaimedAccount:
    """What a sync needs to know about an account, read when it was claimed."""

    id: int
    patient_id: str
    provider: str
    external_user_id: str | None
    timezone: str | None
    synced_through: date | None
    earliest_provisional: date | None
    consecutive_failures: int
    # Where routine syncs resume reading minutes (see ingest.sync.window.minutes_since).
    synced_until: datetime | None
    full_read_at: datetime | None
    changed_from: datetime | None
    # next_sync_due as claimed: a different value at the end means a push came in.
    due_at_claim: datetime | None
    # The run recorded as ``running`` with the claim; its outcome replaces it.
    run_id: int | None = None
    # The stored (encrypted) credentials and their version, read with the claim so
    # the sync need not read them again (see ``CredentialStore.primed``).
    credentials: bytes | None = field(default=None, repr=False)
    credentials_version: int | None = None


def _claimable(now: datetime, patient_id: str | None, force: bool):
    conditions = [
        LinkedAccount.status == LinkStatus.ACTIVE.value,
        or_(LinkedAccount.lease_expires.is_(None), LinkedAccount.lease_expires <= now),
    ]
    if not force:
        conditions.append(
            or_(LinkedAccount.next_sync_due.is_(None), LinkedAccount.next_sync_due <= now)
        )
    if patient_id is not None:
        conditions.append(LinkedAccount.patient_id == patient_id)
    return conditions


def count_claimable(
    factory: sessionmaker[Session],
    now: datetime,
    *,
    patient_id: str | None = None,
    force: bool = False,
) -> int:
    """How many accounts :func:`claim_due` would lease now (a progress bar's total):
    the same conditions, leases and never-synced accounts included."""
    query = select(func.count()).select_from(LinkedAccount)
    with factory() as session:
        return session.scalar(query.where(*_claimable(now, patient_id, force))) or 0


def claim_due(
    factory: sessionmaker[Session],
    worker: str,
    now: datetime,
    limit: int,
    lease_seconds: float,
    *,
    patient_id: str | None = None,
    force: bool = False,
) -> list[ClaimedAccount]:
    """Lease up to ``limit`` due accounts (longest overdue first) to ``worker``.

    ``force`` claims active accounts whether due or not (an operator's explicit
    sync); leased accounts are never taken before their lease runs out. Each
    claimed account's run is recorded as ``running`` in the same transaction (one
    multi-row INSERT per batch, not a statement per sync), so a worker that dies
    from here on leaves it visible; its window is known when it finishes.
    """
    with factory() as session, session.begin():
        candidates = (
            select(LinkedAccount.id)
            .where(*_claimable(now, patient_id, force))
            .order_by(LinkedAccount.next_sync_due, LinkedAccount.id)
            .limit(limit)
        )
        claimed = session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.id.in_(leasable(session, candidates)))
            .values(lease_owner=worker, lease_expires=now + timedelta(seconds=lease_seconds))
            .returning(LinkedAccount.id, LinkedAccount.next_sync_due)
            .execution_options(synchronize_session=False)
        ).all()
        if not claimed:
            return []
        due_at_claim = dict(claimed)
        runs = dict(
            session.execute(
                insert(SyncRun).returning(SyncRun.account_id, SyncRun.id),
                [{"account_id": i, "started_at": now, "worker": worker} for i in due_at_claim],
            ).all()
        )
        return [
            ClaimedAccount(*row[:-2], due_at_claim=due_at_claim[row[0]], run_id=runs[row[0]],
                           credentials=row[-2], credentials_version=row[-1])
            for row in session.execute(_details(due_at_claim))
        ]  # fmt: skip


def _details(ids: Iterable[int]):
    provisional = (
        select(func.min(DailyTotalRow.local_date))
        .where(
            DailyTotalRow.patient_id == LinkedAccount.patient_id,
            DailyTotalRow.provider == LinkedAccount.provider,
            DailyTotalRow.provisional.is_(True),
        )
        .correlate(LinkedAccount)
        .scalar_subquery()
    )
    return (
        select(
            LinkedAccount.id,
            LinkedAccount.patient_id,
            LinkedAccount.provider,
            LinkedAccount.external_user_id,
            Patient.timezone,
            LinkedAccount.synced_through,
            provisional,
            LinkedAccount.consecutive_failures,
            LinkedAccount.synced_until,
            LinkedAccount.full_read_at,
            LinkedAccount.changed_from,
            LinkedAccount.credentials,
            LinkedAccount.credentials_version,
        )
        .join(Patient, Patient.id == LinkedAccount.patient_id)
        .where(LinkedAccount.id.in_(list(ids)))
        .order_by(LinkedAccount.next_sync_due, LinkedAccount.id)
    )


def renew(
    session: Session,
    account_id: int,
    worker: str,
    now: datetime,
    lease_seconds: float,
    synced_through: date | None = None,
) -> None:
    """Extend the lease (and advance the cursor) in ``session``'s transaction, or
    raise :class:`LeaseLost` when the account is no longer this worker's."""
    values: dict = {"lease_expires": now + timedelta(seconds=lease_seconds)}
    if synced_through is not None:
        values["synced_through"] = synced_through
    fenced(session, account_id, worker, values)


def fenced(session: Session, account_id: int, worker: str, values: dict) -> None:
    """Update the account only while ``worker`` holds its lease (Core on the session's
    connection: the ORM's bulk-update layer costs more than the statement)."""
    table = LinkedAccount.__table__
    result = session.connection().execute(
        update(table)
        .where(table.c.id == account_id, table.c.lease_owner == worker)
        .values(**values)
    )
    if result.rowcount != 1:
        raise LeaseLost(f"account {account_id} is no longer leased to {worker}")


def release(factory: sessionmaker[Session], claims: Iterable[ClaimedAccount], worker: str) -> None:
    """Give back leases this worker took but will not use, and the runs those claims
    recorded (never started, so nothing to keep)."""
    claims = list(claims)
    if not claims:
        return
    ids = [c.id for c in claims]
    with factory() as session, session.begin():
        session.execute(
            update(LinkedAccount)
            .where(LinkedAccount.id.in_(ids), LinkedAccount.lease_owner == worker)
            .values(lease_owner=None, lease_expires=None)
            .execution_options(synchronize_session=False)
        )
        runs = [c.run_id for c in claims if c.run_id is not None]
        if runs:
            session.execute(
                delete(SyncRun)
                .where(SyncRun.id.in_(runs), _running())
                .execution_options(synchronize_session=False)
            )


def close_abandoned(factory: sessionmaker[Session], now: datetime) -> int:
    """Close as ``abandoned`` every ``running`` run whose worker no longer holds the
    account's lease at ``now`` (it died, or lost the database, or stalled past its
    lease); returns how many. A stalled worker that still finishes overwrites the
    mark with its real outcome, and one whose lease was taken cannot (fencing).
    Run once per cycle by every replica: one statement over the partial index of
    running runs; on PostgreSQL rows another sweeper holds are skipped, not waited for."""
    held = (
        select(LinkedAccount.id)
        .where(
            LinkedAccount.id == SyncRun.account_id,
            LinkedAccount.lease_owner == SyncRun.worker,
            LinkedAccount.lease_expires > now,
        )
        .exists()
    )
    with factory() as session, session.begin():
        dead = select(SyncRun.id).where(_running(), ~held)
        if session.get_bind().dialect.name == "postgresql":
            dead = dead.with_for_update(skip_locked=True, of=SyncRun)
        result = session.execute(
            update(SyncRun)
            .where(SyncRun.id.in_(dead.scalar_subquery()))
            .values(
                outcome=ABANDONED,
                finished_at=now,
                error_kind=LEASE_EXPIRED,
                error="the worker stopped before finishing; its lease ran out",
            )
            .execution_options(synchronize_session=False)
        )
        return result.rowcount


def _running():
    # A literal, not a parameter: a cached generic plan can use the partial index.
    return SyncRun.outcome == literal_column("'running'")
