"""One cycle: claim due accounts and sync them with bounded concurrency.

Claims are taken in small batches as slots free up, so a worker never holds
more leases than it can start soon and a second replica finds work too. A
failing account occupies a slot only for its one failed call (back-off is a
next-due time, not a sleep), so it cannot slow healthy accounts beyond the
concurrency limit. Each account runs at most once per cycle. A cycle first
closes the runs crashed workers left ``running``. When the database cannot be
reached to claim, the cycle ends with that error once its running syncs are done
(the scheduler waits it out); claimed accounts not yet started are given back if
the database allows, else their leases run out.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy.exc import SQLAlchemyError

from ingest.sync.claims import ClaimedAccount, claim_due, close_abandoned, release
from ingest.sync.engine import SyncContext, SyncResult, sync_account


def worker_name() -> str:
    """Unique per process and readable in ``stridewise status``: host, pid, nonce."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(slots=True)
class CycleReport:
    worker: str
    seconds: float = 0.0
    results: list[SyncResult] = field(default_factory=list)

    @property
    def outcomes(self) -> Counter:
        return Counter(r.outcome for r in self.results)

    @property
    def api_calls(self) -> int:
        return sum(r.api_calls for r in self.results)


def run_with(
    ctx: SyncContext,
    concurrency: int,
    patient_id: str | None = None,
    force: bool = False,
    since: date | None = None,
    on_result: Callable[[SyncResult], None] | None = None,
    stopping: Callable[[], bool] | None = None,
) -> CycleReport:
    report = CycleReport(ctx.worker)
    start = time.perf_counter()
    seen: set[int] = set()
    queue: deque[ClaimedAccount] = deque()
    running: set[Future[SyncResult]] = set()
    exhausted = False
    close_abandoned(ctx.factory, ctx.clock())
    with ThreadPoolExecutor(concurrency, thread_name_prefix="sync") as pool:
        while True:
            if stopping and stopping():
                exhausted = True
                release(ctx.factory, queue, ctx.worker)
                queue.clear()
            if not exhausted and len(queue) < concurrency:
                try:
                    exhausted = _claim_more(ctx, concurrency, queue, seen, patient_id, force)
                except SQLAlchemyError:
                    _give_back(ctx, queue)
                    raise  # after the running syncs end (the pool waits for them)
            while queue and len(running) < concurrency:
                running.add(pool.submit(sync_account, ctx, queue.popleft(), since))
            if not running:
                break
            done, running = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                result = future.result()
                report.results.append(result)
                if on_result:
                    on_result(result)
    report.seconds = time.perf_counter() - start
    return report


def _give_back(ctx: SyncContext, queue: deque[ClaimedAccount]) -> None:
    with suppress(SQLAlchemyError):  # the database is gone: these leases run out instead
        release(ctx.factory, queue, ctx.worker)
    queue.clear()


def _claim_more(
    ctx: SyncContext,
    concurrency: int,
    queue: deque[ClaimedAccount],
    seen: set[int],
    patient_id: str | None,
    force: bool,
) -> bool:
    """Top the queue up to twice the concurrency; True when nothing new is due."""
    claimed = claim_due(
        ctx.factory,
        ctx.worker,
        ctx.clock(),
        2 * concurrency - len(queue),
        ctx.lease_seconds,
        patient_id=patient_id,
        force=force,
    )
    fresh = [c for c in claimed if c.id not in seen]
    # Synced once already in this cycle (e.g. a zero back-off): leave it for the next.
    release(ctx.factory, [c for c in claimed if c.id in seen], ctx.worker)
    seen.update(c.id for c in fresh)
    queue.extend(fresh)
    return not fresh
