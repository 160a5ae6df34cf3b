"""Rate limits for the patient pages, per client address and per web app: link
lookups (someone guessing tokens) and Garmin logins (Garmin blocks an address that
tries too often, for every patient behind it)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict, deque

from fastapi import HTTPException, Request

LOOKUPS = ("lookups", 30, 60.0)  # link pages opened: 30 a minute
GARMIN_LOGINS = ("garmin", 5, 900.0)  # password or code forms sent: 5 in 15 minutes


class Limiter:
    def __init__(self) -> None:
        self._hits: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def allow(self, bucket: str, key: str, limit: int, window_s: float) -> float | None:
        """None when allowed, else seconds until the next attempt is."""
        now = time.monotonic()
        with self._lock:
            hits = self._hits[(bucket, key)]
            while hits and hits[0] <= now - window_s:
                hits.popleft()
            if len(hits) >= limit:
                return hits[0] + window_s - now
            hits.append(now)
            return None


def limit(request: Request, rule: tuple[str, int, float]) -> None:
    """Raise 429 (with Retry-After) once this client used up ``rule``."""
    state = request.app.state
    if not hasattr(state, "patient_limiter"):
        state.patient_limiter = Limiter()
    bucket, count, window_s = rule
    client = request.client.host if request.client else "unknown"
    wait = state.patient_limiter.allow(bucket, client, count, window_s)
    if wait is not None:
        minutes = max(1, round(wait / 60))
        raise HTTPException(
            429,
            f"Too many attempts from this connection. Please wait about {minutes} "
            f"minute{'s' if minutes != 1 else ''} and try again.",
            headers={"Retry-After": str(int(wait) + 1)},
        )
