"""The wait between two pokes, the same in every sensor mode.

Airflow computes poke and reschedule intervals inside ``BaseSensorOperator``; a deferred
sensor's trigger runs in another process, without the operator. This is the same formula as
the operator's poke mode (``_get_next_poke_interval``), so ``exponential_backoff`` and
``max_wait`` behave identically whether the sensor pokes, reschedules or defers.
"""

import hashlib
from datetime import timedelta

_LONGEST = timedelta.max.total_seconds() - 1


def next_poke_interval(
    *,
    poke_interval: float,
    exponential_backoff: bool,
    max_wait: float | None,
    timeout: float,
    elapsed: float,
    poke_count: int,
    jitter_seed: str,
) -> float:
    """Seconds to wait before the next poke.

    Args:
        poke_interval: the sensor's ``poke_interval`` in seconds.
        exponential_backoff: double the wait after every poke (with jitter).
        max_wait: the longest wait in seconds, or None.
        timeout: the sensor's ``timeout``: backed-off waits never run past it.
        elapsed: seconds since the sensor started.
        poke_count: how many pokes have happened (1 after the first).
        jitter_seed: ``<dag id>#<task id>#<started at>``: spreads sensors that started
            together, the way Airflow does.
    """
    if not exponential_backoff:
        return poke_interval
    min_backoff = max(int(poke_interval * (2 ** (poke_count - 2))), 1)
    run_hash = int(
        hashlib.sha1(f"{jitter_seed}#{poke_count}".encode(), usedforsecurity=False).hexdigest(),
        16,
    )
    delay = min(min_backoff + run_hash % min_backoff, _LONGEST)
    interval = min(timeout - int(elapsed), delay)
    if max_wait:
        interval = min(max_wait, interval)
    return max(0.0, float(interval))
