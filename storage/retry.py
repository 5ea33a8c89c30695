"""The one retry helper: exponential backoff with jitter within a total time budget (and
at most `attempts` tries); permanent errors are not retried. No Django import: storage
backends (backends/retrying.py), cluster requests (backups.elastic.connection), the
restore's resent bulk items and the Kubernetes mirror's loop (`delay()`) all use it.

Full jitter by default (the AWS Architecture Blog's "Exponential Backoff and Jitter"):
the n-th wait is uniform in [0, min(cap, base * 2**n)], so many clients that failed
together do not come back together; the cap keeps the time to notice a recovered server
short. `jitter` < 1 keeps the wait in the top part of that range (0.5: "equal jitter"),
for a caller that must not come back at once.
"""
from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

BUDGET_ENV = "STASHBOARD_STORAGE_RETRY_BUDGET"
DEFAULT_BUDGET = 120.0  # seconds: rides out a storage restart or a short network outage
DEFAULT_BASE = 0.2
DEFAULT_CAP = 5.0


def default_budget() -> float:
    """The budget from STASHBOARD_STORAGE_RETRY_BUDGET (seconds), else 120."""
    value = os.environ.get(BUDGET_ENV, "")
    try:
        return float(value) if value else DEFAULT_BUDGET
    except ValueError:
        raise ValueError(f"{BUDGET_ENV}={value!r}: use a number of seconds") from None


def delay(attempt: int, *, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP, jitter: float = 1.0,
          rand: Callable[[float, float], float] = random.uniform) -> float:
    """The wait before retry `attempt` (1 after the first failure): uniform in
    [(1 - jitter) * bound, bound], bound = min(cap, base * 2**(attempt - 1))."""
    bound = min(cap, base * 2 ** (attempt - 1))
    return rand(bound * (1.0 - jitter), bound)


def retry(fn: Callable[[], T], *, budget: float, base: float = DEFAULT_BASE, cap: float = DEFAULT_CAP,
          is_permanent: Callable[[BaseException], bool], attempts: int | None = None, jitter: float = 1.0,
          on_retry: Callable[[int, float, BaseException], None] | None = None,
          sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
          rand: Callable[[float, float], float] = random.uniform) -> T:
    """Call fn until it returns, an error is permanent, `attempts` calls were made, or
    `budget` seconds have passed since the first call; then the last error is raised as
    it was.

    on_retry(attempt, delay, error) is called before each wait (attempt 1 is the first
    failure). A wait never goes past the budget, and no attempt starts after it."""
    deadline = clock() + budget
    attempt = 0
    while True:
        try:
            return fn()
        except Exception as e:
            attempt += 1
            remaining = deadline - clock()
            if is_permanent(e) or remaining <= 0 or (attempts is not None and attempt >= attempts):
                raise
            wait = min(delay(attempt, base=base, cap=cap, jitter=jitter, rand=rand), remaining)
            if on_retry is not None:
                on_retry(attempt, wait, e)
            sleep(wait)
