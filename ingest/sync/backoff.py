"""What an outcome means for an account's next attempt.

The engine never sleeps in-line on a failure: it writes the next due time and
frees its slot, so a failing account costs the others nothing but one call.

- success        -> next poll after the interval (plus jitter)
- rate limited   -> after ``Retry-After`` when the provider said so, else back-off
- transient / bad data / internal -> exponential back-off with jitter, capped
- auth revoked   -> no next attempt at all until the patient relinks
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    interval_s: float = 900
    base_s: float = 60
    max_s: float = 6 * 3600
    jitter_s: float = 60


def backoff_seconds(failures: int, policy: BackoffPolicy, rng: random.Random) -> float:
    """Capped exponential back-off after ``failures`` consecutive failures (>= 1),
    with "equal jitter": never less than half the step, so retries stay spread."""
    step = min(policy.max_s, policy.base_s * 2 ** min(max(failures, 1) - 1, 32))
    return step / 2 + rng.uniform(0, step / 2)


def next_poll(now: datetime, policy: BackoffPolicy, rng: random.Random) -> datetime:
    return now + timedelta(seconds=policy.interval_s + rng.uniform(0, policy.jitter_s))


def next_retry(
    now: datetime,
    failures: int,
    policy: BackoffPolicy,
    rng: random.Random,
    retry_after: float | None = None,
) -> datetime:
    """When to try again after a failure; a provider's ``Retry-After`` is honoured
    (never earlier), plus jitter, up to the cap."""
    if retry_after is not None and retry_after >= 0:
        delay = min(policy.max_s, retry_after + rng.uniform(0, policy.jitter_s))
    else:
        delay = backoff_seconds(failures, policy, rng)
    return now + timedelta(seconds=delay)
