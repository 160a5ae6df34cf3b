"""Walking bouts, found for every patient-day at once.

Minute data (the NHANES-style rule of the spec): a bout lasts at least
``min_minutes`` minutes at or above the cadence threshold, at most
``max_below_fraction`` of its minutes below it and never ``max_below_run``
minutes below in a row. Minutes are "in a row" only when they follow each other
in real (UTC) time on the same local day, so DST and travel need no special
case; a minute missing from the data ends a bout.

The rule leaves room for choice when a stretch breaks the 20% allowance, so
the detector is deterministic and greedy from the outside in: first split at
every run of ``max_below_run`` low minutes and keep each stretch (trimmed to
its first and last walking minute) that passes; re-split the stretches that
fail at runs one minute shorter, and so on down to single low minutes, where
what is left is plain runs of walking. Each pass is vectorised over all rows.

Coarse data (Garmin's 15-minute buckets) cannot show cadence minute by minute,
so bouts are *estimated*: a bucket holds ``steps / threshold`` walking minutes
(capped at its length); buckets that hold at least half a minimum bout chain
with their neighbours, and a chain holding at least ``min_minutes`` estimated
minutes is one bout of that many minutes. Pottering about (a few hundred steps
in a quarter hour) never chains; a 10-minute walk inside one bucket counts.
"""

from __future__ import annotations

import numpy as np


def detect_bouts(
    new_block: np.ndarray,
    active: np.ndarray,
    min_minutes: np.ndarray | int = 10,
    max_below_fraction: np.ndarray | float = 0.2,
    max_below_run: np.ndarray | int = 5,
) -> np.ndarray:
    """Bout number per minute (-1 outside bouts) for minutes sorted by patient and time.

    ``new_block[i]`` is True where minute i does not directly follow minute i-1
    (another patient or day, or a gap); ``active`` is steps >= the threshold.
    Parameters may be per-row arrays (per-patient settings). Only the walking
    minutes are worked on (a stretch is known by its first and last walking
    minute and the low minutes between walking minutes), so the cost beyond
    one pass over the data scales with the walking, not the wearing.
    """
    n = len(active)
    bout = np.full(n, -1, dtype=np.int64)
    on = np.flatnonzero(active)
    if len(on) == 0:
        return bout
    block = np.cumsum(np.asarray(new_block, dtype=bool))[on]
    shortest = np.broadcast_to(np.asarray(min_minutes), n)[on]
    allowance = np.broadcast_to(np.asarray(max_below_fraction), n)[on]
    longest_low = np.broadcast_to(np.asarray(max_below_run), n)[on]
    low_before = np.r_[0, np.diff(on) - 1]  # low minutes since the previous walking minute
    undecided = np.arange(len(on))
    group_start = np.r_[True, block[1:] != block[:-1]]
    next_id = 0
    for run_limit in range(int(longest_low.max()), 0, -1):
        if len(undecided) == 0:
            break
        limit = np.minimum(run_limit, longest_low[undecided])
        seg_start = group_start | (low_before[undecided] >= limit)
        head = np.flatnonzero(seg_start)
        tail = np.r_[head[1:], len(undecided)] - 1
        first, last = on[undecided[head]], on[undecided[tail]]
        length = last - first + 1
        walked = tail - head + 1
        long_enough = length >= shortest[undecided[head]]
        within = (length - walked) <= allowance[undecided[head]] * length
        passed, retry = long_enough & within, long_enough & ~within
        if passed.any():
            starts, sizes = first[passed], length[passed]
            offsets = np.arange(sizes.sum()) - np.repeat(np.cumsum(sizes) - sizes, sizes)
            bout[np.repeat(starts, sizes) + offsets] = np.repeat(
                np.arange(next_id, next_id + len(sizes)), sizes
            )
            next_id += len(sizes)
        keep = np.repeat(retry, walked)
        undecided, group_start = undecided[keep], seg_start[keep]
    return bout


def estimate_coarse_bouts(
    new_block: np.ndarray,
    steps: np.ndarray,
    bucket_minutes: np.ndarray,
    threshold: np.ndarray | float,
    min_minutes: np.ndarray | int = 10,
) -> tuple[np.ndarray, np.ndarray]:
    """Estimated walking minutes and chain number (-1 outside bouts) per coarse bucket.

    Buckets are sorted by patient and time; ``new_block`` as for ``detect_bouts``.
    """
    n = len(steps)
    estimate = np.minimum(bucket_minutes, np.floor(steps / threshold)).astype(np.int64)
    chain = np.full(n, -1, dtype=np.int64)
    if n == 0:
        return np.zeros(0, dtype=np.int64), chain
    min_minutes = np.broadcast_to(np.asarray(min_minutes), n)
    carries = estimate * 2 >= min_minutes
    start = np.asarray(new_block, dtype=bool).copy()
    start[0] = True
    start[1:] |= ~carries[:-1]
    group = np.cumsum(start) - 1
    totals = np.bincount(group, weights=np.where(carries, estimate, 0)).astype(np.int64)
    is_bout = carries & (totals[group] >= min_minutes)
    chain[is_bout] = group[is_bout]
    return np.where(is_bout, estimate, 0), chain
