"""Repository locks: objects under locks/ with an expiry, refreshed while held.

A backup holds a shared lock; prune holds an exclusive one. Each side writes its own lock
first and then lists the others, so of two that start together at least one sees the
other and backs off. A holder that crashes stops refreshing; its lock is removed by the
next writer or prune (and by `unlock`) as soon as it has expired, or at once when the
holder is provably gone: a lock written on this host whose pid is not running.
"""
from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import random
import secrets
import socket
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Self

from .format import (
    LOCKS_PREFIX,
    LockedError,
    RepositoryError,
    isoformat,
    parse_time,
    utcnow,
)

if TYPE_CHECKING:
    from storage.backends import Backend

log = logging.getLogger(__name__)

DEFAULT_TTL = 300.0  # seconds; refreshed every TTL/3


@dataclass
class LockInfo:
    id: str
    kind: str
    host: str
    pid: int
    created: dt.datetime
    expires: dt.datetime

    @property
    def stale(self) -> bool:
        return self.expires <= utcnow()

    @property
    def holder_gone(self) -> bool:
        """Written by a process of this host that no longer runs. Only this host's pids can
        be asked; a pid reused since by another process keeps the lock until it expires."""
        return self.host == socket.gethostname() and self.pid > 0 and not _pid_alive(self.pid)

    def why_removable(self) -> str | None:
        if self.stale:
            return f"it expired at {isoformat(self.expires)}"
        if self.holder_gone:
            return f"its holder, pid {self.pid} on this host, is not running"
        return None

    def describe(self) -> str:
        return (f"{self.kind} lock {self.id[:8]} held by {self.host} pid {self.pid} since "
                f"{isoformat(self.created)} (expires {isoformat(self.expires)})")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _remove(backend: Backend, lock: LockInfo, why: str, repo_name: str = "") -> None:
    backend.delete(LOCKS_PREFIX + lock.id)
    log.warning("removed %s of repository %s: %s", lock.describe(), repo_name or backend.describe(), why)


def read_locks(backend: Backend) -> list[LockInfo]:
    from storage.backends import NotFound

    out = []
    for key in backend.list(LOCKS_PREFIX):
        lock_id = key[len(LOCKS_PREFIX):]
        try:
            d = json.loads(backend.get(key))
            out.append(LockInfo(lock_id, d["kind"], d.get("host", "?"), int(d.get("pid", 0)),
                                parse_time(d["created"]), parse_time(d["expires"])))
        except NotFound:
            continue  # released meanwhile
        except (ValueError, KeyError):
            # An unreadable lock counts as a live exclusive one until it is removed by hand.
            out.append(LockInfo(lock_id, "exclusive", "?", 0, utcnow(),
                                utcnow() + dt.timedelta(days=3650)))
    return out


class Lock:
    """A held lock; use as a context manager. `lost` turns true if refreshing failed
    long enough for the lock to expire (the holder must then not commit)."""

    def __init__(self, backend: Backend, kind: str, *, ttl: float = DEFAULT_TTL,
                 repo_name: str = "") -> None:
        self.backend = backend
        self.kind = kind
        self.ttl = ttl
        self.repo_name = repo_name
        self.id = secrets.token_hex(16)
        self.key = LOCKS_PREFIX + self.id
        self.created = utcnow()
        self._last_refresh = 0.0
        self.removed = 0  # stale or orphaned locks of others this acquire removed
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _doc(self) -> bytes:
        return json.dumps({"kind": self.kind, "host": socket.gethostname(), "pid": os.getpid(),
                           "created": isoformat(self.created),
                           "expires": isoformat(utcnow() + dt.timedelta(seconds=self.ttl))}
                          ).encode()

    def _write(self) -> None:
        started = time.monotonic()
        self.backend.put(self.key, self._doc())
        self._last_refresh = started

    @property
    def lost(self) -> bool:
        return time.monotonic() - self._last_refresh >= self.ttl

    def acquire(self, *, wait: float = 0.0) -> Lock:
        deadline = time.monotonic() + wait
        while True:
            self._write()
            conflict = self._conflict()
            if conflict is None:
                break
            self.backend.delete(self.key)
            if time.monotonic() >= deadline:
                raise LockedError(f"repository {self.repo_name} is locked: {conflict.describe()}"
                                  f"; wait for it to finish, or run `unlock` if that process "
                                  f"is gone")
            time.sleep(min(random.uniform(0.05, 0.5), max(0.05, deadline - time.monotonic())))
        self._thread = threading.Thread(target=self._refresh_loop, daemon=True,
                                        name=f"lock-refresh-{self.id[:8]}")
        self._thread.start()
        return self

    def _conflict(self) -> LockInfo | None:
        for other in read_locks(self.backend):
            if other.id == self.id:
                continue
            why = other.why_removable()
            if why is not None:
                # Left by a crashed or killed holder: it would block prune (or be listed
                # forever); the next writer or prune cleans it up.
                try:
                    _remove(self.backend, other, why, self.repo_name)
                    self.removed += 1
                except Exception as e:  # noqa: BLE001 - ignored all the same; the next one retries
                    log.warning("could not remove %s: %s", other.describe(), e)
                continue
            if self.kind == "exclusive" or other.kind == "exclusive":
                return other
        return None

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.ttl / 3):
            try:
                self._write()
            except Exception as e:  # noqa: BLE001 - keep trying; `lost` reports the outcome
                log.warning("refreshing %s failed: %s", self.key, e)

    def release(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        with contextlib.suppress(Exception):
            self.backend.delete(self.key)

    def check(self, *, within: float | None = None) -> None:
        """Raise unless the lock was refreshed in the last TTL (or `within` seconds)."""
        limit = self.ttl if within is None else within
        if time.monotonic() - self._last_refresh >= limit:
            raise RepositoryError(f"the {self.kind} lock on repository {self.repo_name} "
                                  f"expired before it could be refreshed; not committing")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def remove_locks(backend: Backend, *, all_locks: bool = False, repo_name: str = "",
                 keep: str = "") -> list[LockInfo]:
    """Remove stale locks and those whose holder is gone (all locks with all_locks=True,
    except `keep`, the caller's own); returns what was removed."""
    removed = []
    for lock in read_locks(backend):
        if lock.id == keep:
            continue
        why = "removed by request (unlock --remove-all)" if all_locks else lock.why_removable()
        if why is not None:
            _remove(backend, lock, why, repo_name)
            removed.append(lock)
    return removed
