"""storage/retry.py, and the one retry layer every backend call goes through."""
from __future__ import annotations

import time

import pytest

from storage.backends import BackendError, open_backend
from storage.repo import Repository
from storage.retry import retry
from tests.peers.seaweedfs import SeaweedS3


class Clock:
    """Virtual time for the helper: sleeping advances it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.waits: list[float] = []

    def sleep(self, s: float) -> None:
        self.waits.append(s)
        self.now += s


def flaky(failures: int, error: Exception):  # type: ignore[no-untyped-def]
    calls = [0]

    def fn() -> str:
        calls[0] += 1
        if calls[0] <= failures:
            raise error
        return "ok"

    return fn, calls


def test_transient_errors_are_retried_with_capped_full_jitter_backoff() -> None:
    clock = Clock()
    fn, calls = flaky(6, BackendError("503", permanent=False))
    bounds: list[float] = []

    def rand(lo: float, hi: float) -> float:
        bounds.append(hi)
        return hi  # the top of each jitter range, to see the exponential and the cap

    assert retry(fn, budget=60, base=0.5, cap=4, is_permanent=lambda e: e.permanent,  # type: ignore[attr-defined]
                 sleep=clock.sleep, clock=lambda: clock.now, rand=rand) == "ok"
    assert calls[0] == 7 and bounds == [0.5, 1, 2, 4, 4, 4] and clock.waits == bounds


def test_jitter_is_full_between_zero_and_the_bound() -> None:
    clock = Clock()
    fn, _ = flaky(200, BackendError("503", permanent=False))
    with pytest.raises(BackendError):
        retry(fn, budget=50, base=1, cap=1, is_permanent=lambda e: False, sleep=clock.sleep,
              clock=lambda: clock.now)
    assert min(clock.waits) < 0.2 and max(clock.waits) > 0.8 and all(0 <= w <= 1 for w in clock.waits)


def test_a_permanent_error_is_raised_at_once() -> None:
    clock = Clock()
    fn, calls = flaky(5, BackendError("bucket 'x' not found"))
    with pytest.raises(BackendError, match="not found"):
        retry(fn, budget=60, is_permanent=lambda e: e.permanent, sleep=clock.sleep,  # type: ignore[attr-defined]
              clock=lambda: clock.now)
    assert calls[0] == 1 and clock.waits == []


def test_the_budget_bounds_the_total_time_and_the_last_error_is_raised() -> None:
    clock = Clock()
    fn, calls = flaky(10_000, BackendError("connection refused", permanent=False))
    with pytest.raises(BackendError, match="connection refused"):
        retry(fn, budget=30, base=1, cap=8, is_permanent=lambda e: False, sleep=clock.sleep,
              clock=lambda: clock.now)
    assert clock.now <= 30 and sum(clock.waits) <= 30 and calls[0] > 5


def test_a_missing_bucket_fails_at_once(seaweedfs: SeaweedS3) -> None:
    backend = open_backend("s3", bucket="no-such-bucket", endpoint=seaweedfs.endpoint, path_style=True,
                           credentials={"access_key_id": seaweedfs.access_key,
                                        "secret_access_key": seaweedfs.secret_key}, retry_budget=120)
    t0 = time.monotonic()
    # (a read: SeaweedFS creates a missing bucket on PUT for an admin identity)
    with pytest.raises(BackendError, match="bucket 'no-such-bucket' not found") as e:
        Repository.open(backend, "pw")
    assert e.value.permanent and time.monotonic() - t0 < 3


def test_an_unreachable_endpoint_is_retried_for_the_budget_then_says_so() -> None:
    from tests.peers.util import free_port

    backend = open_backend("s3", bucket="b", endpoint=f"http://127.0.0.1:{free_port()}", path_style=True,
                           credentials={"access_key_id": "a", "secret_access_key": "b"}, retry_budget=2)
    t0 = time.monotonic()
    with pytest.raises(BackendError, match="gave up after .* attempts") as e:
        backend.get("repository.yaml")
    assert 2 <= time.monotonic() - t0 < 6 and not e.value.permanent


def test_attempts_bound_the_tries_and_jitter_keeps_waits_in_the_top_of_the_range() -> None:
    from storage.retry import delay

    clock = Clock()
    fn, calls = flaky(10, BackendError("503", permanent=False))
    with pytest.raises(BackendError):
        retry(fn, budget=600, base=1, cap=8, attempts=4, jitter=0.5, is_permanent=lambda e: False,
              sleep=clock.sleep, clock=lambda: clock.now)
    assert calls[0] == 4 and len(clock.waits) == 3
    assert all(b / 2 <= w <= b for w, b in zip(clock.waits, [1, 2, 4], strict=True))
    assert all(0.8 <= delay(1, base=1, cap=30, jitter=0.2) <= 1.0 for _ in range(50))
    assert delay(6, base=1, cap=30, jitter=0.0) == delay(7, base=1, cap=30, jitter=0.0) == 30
