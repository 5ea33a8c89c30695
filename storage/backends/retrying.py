"""The retry layer of every backend: each call is retried by storage.retry (backoff, full
jitter, a total time budget), and the SDKs below are set to retry nothing themselves, so
there is one layer of retries, not three nested ones."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TypeVar

from storage.retry import DEFAULT_BASE, DEFAULT_CAP, retry

from .base import AlreadyExists, Backend, BackendError

log = logging.getLogger(__name__)
T = TypeVar("T")
LIST_BATCH = 10_000


def is_permanent(e: BaseException) -> bool:
    # Anything that is not a BackendError is a bug or a cancel, never worth a retry.
    return not isinstance(e, BackendError) or e.permanent


class RetryingBackend(Backend):
    """Wraps a backend; other attributes (e.g. a local backend's `root`) pass through."""

    def __init__(self, inner: Backend, *, budget: float, base: float = DEFAULT_BASE,
                 cap: float = DEFAULT_CAP) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.budget, self.base, self.cap = budget, base, cap

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        t0 = time.monotonic()
        tries = [0]

        def on_retry(attempt: int, delay: float, e: BaseException) -> None:
            tries[0] = attempt
            log.warning("%s on %s failed (attempt %d, retrying in %.1fs, budget %.0fs): %s",
                        what, self.inner.describe(), attempt, delay, self.budget, e)

        try:
            result = retry(fn, budget=self.budget, base=self.base, cap=self.cap,
                           is_permanent=is_permanent, on_retry=on_retry)
        except BackendError as e:
            if tries[0] and not e.permanent:
                raise BackendError(f"{e} (gave up after {tries[0] + 1} attempts in "
                                   f"{time.monotonic() - t0:.0f}s: STASHBOARD_STORAGE_RETRY_BUDGET is "
                                   f"{self.budget:.0f}s)", permanent=False) from e
            raise
        if tries[0]:
            log.info("%s on %s succeeded after %d attempts (%.1fs)", what, self.inner.describe(),
                     tries[0] + 1, time.monotonic() - t0)
        return result

    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            seekable = getattr(data, "seekable", lambda: False)()
            if not seekable:
                self.inner.put(key, data, if_absent=if_absent)  # a stream read once cannot be resent
                return
            start = data.tell()
        attempts = [0]

        def once() -> None:
            attempts[0] += 1
            if not isinstance(data, (bytes, bytearray, memoryview)):
                data.seek(start)
            try:
                self.inner.put(key, data, if_absent=if_absent)
            except AlreadyExists:
                if attempts[0] > 1 and self._same(key, data):
                    return  # an earlier attempt did write it, only its answer was lost
                raise

        self._call(f"put {key}", once)

    def _same(self, key: str, data: bytes | bytearray | BinaryIO) -> bool:
        if not isinstance(data, (bytes, bytearray, memoryview)):
            return False
        try:
            return self.inner.get(key) == bytes(data)
        except BackendError:
            return False

    def get(self, key: str) -> bytes:
        return self._call(f"get {key}", lambda: self.inner.get(key))

    def get_range(self, key: str, start: int, length: int) -> bytes:
        return self._call(f"get {key}", lambda: self.inner.get_range(key, start, length))

    def open(self, key: str) -> BinaryIO:
        return self._call(f"open {key}", lambda: self.inner.open(key))

    def list(self, prefix: str = "") -> Iterator[str]:
        # Lazily, in batches; a listing that fails partway starts over and skips the keys
        # it already yielded (a key counts as seen only once yielded).
        seen: set[str] = set()
        listing: Iterator[str] | None = None
        done = False

        def batch() -> list[str]:
            nonlocal listing, done
            if listing is None:
                listing = iter(self.inner.list(prefix))
            out: list[str] = []
            try:
                for key in listing:
                    if key not in seen:
                        out.append(key)
                        if len(out) >= LIST_BATCH:
                            return out
            except BaseException:
                listing = None
                raise
            done = True
            return out

        while not done:
            for key in self._call(f"list {prefix or '/'}", batch):
                seen.add(key)
                yield key

    def delete(self, key: str) -> None:
        self._call(f"delete {key}", lambda: self.inner.delete(key))

    def exists(self, key: str) -> bool:
        return self._call(f"exists {key}", lambda: self.inner.exists(key))

    def describe(self) -> str:
        return self.inner.describe()

    def close(self) -> None:
        self.inner.close()
