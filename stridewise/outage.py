"""Scheduled jobs that outlive a database outage: the process keeps running, a job
that finds the database gone ends quietly, and later runs back off until it
answers again (then every job resumes on its own schedule; nothing restarts).

Without this APScheduler logs every failed run with a traceback, every tick while
PostgreSQL is down, and a database error's text quotes its statement's
parameters (health data). Here one line is logged when an outage starts and one,
at the same level, when it ends; with the error's type only.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import structlog

from ingest.db import database_unavailable

log = structlog.get_logger("stridewise.scheduler")

P = ParamSpec("P")
R = TypeVar("R")


class Outage:
    """The process's view of whether the database answers, shared by its jobs.
    While it does not, jobs are skipped until the next retry, which comes after
    ``base_s``, doubling up to ``max_s`` (a recovering server is not stormed by
    every replica's every tick)."""

    def __init__(
        self,
        base_s: float = 1.0,
        max_s: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base_s, self._max_s, self._clock = base_s, max_s, clock
        self._lock = threading.Lock()
        self._since: float | None = None  # when the outage was first seen
        self._delay = 0.0
        self._retry_at = 0.0
        self._failed_runs = 0

    @property
    def down(self) -> bool:
        return self._since is not None

    def guard(self, job: Callable[P, R], name: str) -> Callable[P, R | None]:
        """``job`` as a scheduler job: skipped while backing off, database errors
        caught and counted, any other error raised as before."""

        @functools.wraps(job)
        def guarded(*args: P.args, **kwargs: P.kwargs) -> R | None:
            if self._waiting():
                return None
            try:
                result = job(*args, **kwargs)
            except Exception as err:
                if not database_unavailable(err):
                    raise
                self._failed(name, err)
                return None
            self._answered()
            return result

        return guarded

    def _waiting(self) -> bool:
        with self._lock:
            return self.down and self._clock() < self._retry_at

    def _failed(self, job: str, err: Exception) -> None:
        with self._lock:
            now = self._clock()
            if self._since is None:
                self._since, self._delay = now, self._base_s
                log.warning("db.unavailable", job=job, error_type=type(err).__name__)
            else:
                self._delay = min(2 * self._delay, self._max_s)
            self._failed_runs += 1
            self._retry_at = now + self._delay

    def _answered(self) -> None:
        with self._lock:
            if self._since is None:
                return
            log.warning("db.recovered", after_s=round(self._clock() - self._since, 1),
                        failed_runs=self._failed_runs)  # fmt: skip
            self._since, self._failed_runs = None, 0
