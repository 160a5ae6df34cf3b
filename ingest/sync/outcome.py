"""The statements that close a sync: its run's row, and the account's new state
with the lease freed, fenced on the lease.

They are built once, with parameters for everything that varies: a sync runs
them thousands of times an hour, and building a statement per call (its CASE
expressions, its cache key) cost more CPU than running it. On PostgreSQL the
run's UPDATE rides in the account's as a data-modifying CTE, so closing a sync
is one round trip; the fence still holds, since a lost lease raises and the
transaction, the run's update included, rolls back.
"""

from __future__ import annotations

from sqlalchemy import Boolean, bindparam, case, func, insert, null, update
from sqlalchemy.orm import Session

from ingest.models import LinkedAccount, SyncRun
from ingest.sync.claims import LeaseLost

_RUNS = SyncRun.__table__
_ACCOUNTS = LinkedAccount.__table__
RUN_FIELDS = (
    "window_start", "window_end", "started_at", "finished_at", "outcome", "error_kind",
    "error", "intervals_written", "totals_written", "rejected", "api_calls", "worker",
)  # fmt: skip


def _param(table, column: str):
    # Named apart from the column: SQLAlchemy reserves a SET column's own name.
    return bindparam(f"p_{column}", type_=table.c[column].type)


_RUN_SET = {c: _param(_RUNS, c) for c in RUN_FIELDS}
_RUN_UPDATE = update(_RUNS).where(_RUNS.c.id == bindparam("p_run_id")).values(_RUN_SET)
_RUN_INSERT = insert(_RUNS).values(_RUN_SET | {"account_id": bindparam("p_account_id")})

_due = _ACCOUNTS.c.next_sync_due
# Someone marked the account due (ingest.sync.push) while this sync ran.
_pushed = _due.is_not(None) & _due.is_distinct_from(bindparam("p_due_at_claim", type_=_due.type))
_changed_from = _ACCOUNTS.c.changed_from
_freed = {
    "lease_owner": null(),
    "lease_expires": null(),
    "updated_at": _param(_ACCOUNTS, "updated_at"),
}
_SUCCEEDED = _freed | {
    "synced_through": _param(_ACCOUNTS, "synced_through"),
    "last_success_at": _param(_ACCOUNTS, "updated_at"),
    "consecutive_failures": 0,
    "last_error_kind": null(),
    "last_error": null(),
    # A push that arrived during the sync keeps the account due at once.
    "next_sync_due": case((_pushed, _due), else_=bindparam("p_next_due", type_=_due.type)),
    "synced_until": _param(_ACCOUNTS, "synced_until"),
    # Cleared, since this sync read from it, unless a webhook may have come in
    # meanwhile (a push, a changed value, or an account backing off, which pushes
    # do not mark due); then it stays for the next sync, which reads a little more.
    "changed_from": case(
        (
            _pushed
            | _changed_from.is_distinct_from(
                bindparam("p_changed_at_claim", type_=_changed_from.type)
            )
            | bindparam("p_was_failing", type_=Boolean()),
            _changed_from,
        ),
        else_=null(),
    ),
    "full_read_at": func.coalesce(_param(_ACCOUNTS, "full_read_at"), _ACCOUNTS.c.full_read_at),
}
_FAILED = _freed | {
    "consecutive_failures": _param(_ACCOUNTS, "consecutive_failures"),
    "last_error_kind": _param(_ACCOUNTS, "last_error_kind"),
    "last_error": _param(_ACCOUNTS, "last_error"),
    "status": func.coalesce(_param(_ACCOUNTS, "status"), _ACCOUNTS.c.status),
    "next_sync_due": bindparam("p_next_due", type_=_due.type),
}
_FENCE = (_ACCOUNTS.c.id == bindparam("p_account_id"),
          _ACCOUNTS.c.lease_owner == bindparam("p_worker"))  # fmt: skip
_ACCOUNT_UPDATES = {
    (succeeded, with_run): (
        update(_ACCOUNTS)
        .where(*_FENCE)
        .values(_SUCCEEDED if succeeded else _FAILED)
        .add_cte(*([_RUN_UPDATE.cte("closed_run")] if with_run else []))
    )
    for succeeded in (True, False)
    for with_run in (True, False)
}


def record_success(session: Session, run_id: int | None, params: dict) -> None:
    """Close the run as it went and the account as synced; ``params``: the run's
    ``p_<field>`` values and the account's (see :data:`_SUCCEEDED`)."""
    _record(session, True, run_id, params)


def record_failure(session: Session, run_id: int | None, params: dict) -> None:
    """Close the run as failed and the account as backing off (see :data:`_FAILED`);
    ``p_status`` names a new status (a revoked link) or is None."""
    _record(session, False, run_id, params)


def _record(session: Session, succeeded: bool, run_id: int | None, params: dict) -> None:
    connection = session.connection()  # Core on the session's transaction
    one_statement = run_id is not None and connection.dialect.name == "postgresql"
    if not one_statement:
        if run_id is None:  # claimed without a run record (e.g. by a test)
            connection.execute(_RUN_INSERT, params)
        else:
            connection.execute(_RUN_UPDATE, params | {"p_run_id": run_id})
    statement = _ACCOUNT_UPDATES[(succeeded, one_statement)]
    result = connection.execute(statement, params | {"p_run_id": run_id})
    if result.rowcount != 1:
        account, worker = params["p_account_id"], params["p_worker"]
        raise LeaseLost(f"account {account} is no longer leased to {worker}")
