"""storage/repo/locks.py: backups share the repository and prune holds it alone, each
refusing while the other runs; stale locks (issue 13, point 10): a lock whose holder is
provably gone (this host, pid not running) or that expired is removed by the next writer
or prune, and the log says so."""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from storage.backends import Backend
from storage.repo import LockedError, Repository
from storage.repo.format import LOCKS_PREFIX, isoformat, utcnow
from tests.storage.repo.helpers import PASSWORD, new_repo

ROOT = Path(__file__).resolve().parents[3]


def killed_holder(repo_root: Path, kind: str = "shared") -> int:
    """A real process takes a lock on the repository and is killed with SIGKILL (no
    release, no cleanup); returns its pid."""
    code = (
        "import sys, time\n"
        "from storage.backends import open_backend\n"
        "from storage.repo import Repository\n"
        f"repo = Repository.open(open_backend('local', root={str(repo_root)!r}), {PASSWORD!r})\n"
        f"repo.lock({kind!r})\n"
        "print('locked', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    return proc.pid


def write_lock(backend: Backend, lock_id: str, *, host: str, pid: int, expires_in: float) -> None:
    now = utcnow()
    backend.put(LOCKS_PREFIX + lock_id, json.dumps({
        "kind": "shared", "host": host, "pid": pid, "created": isoformat(now),
        "expires": isoformat(now + dt.timedelta(seconds=expires_in))}).encode())


def test_a_killed_workers_shared_lock_does_not_block_prune(local_backend: Backend, tmp_path: Path,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    repo = new_repo(local_backend)
    pid = killed_holder(tmp_path / "repo")
    assert len(list(local_backend.list(LOCKS_PREFIX))) == 1  # left behind, not expired (TTL 5 min)
    t0 = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="storage.repo.locks"):
        result = repo.prune()
    assert time.monotonic() - t0 < 5
    assert result.stale_locks_removed == 1
    assert list(local_backend.list(LOCKS_PREFIX)) == []
    assert f"pid {pid} on this host, is not running" in caplog.text and "removed shared lock" in caplog.text


def test_the_next_writer_removes_an_expired_lock_and_a_gone_holders_lock(local_backend: Backend,
                                                                        caplog: pytest.LogCaptureFixture) -> None:
    repo = new_repo(local_backend)
    write_lock(local_backend, "a" * 32, host="other-host", pid=1234, expires_in=-60)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    write_lock(local_backend, "b" * 32, host=socket.gethostname(), pid=dead.pid, expires_in=300)
    with caplog.at_level(logging.WARNING, logger="storage.repo.locks"), repo.writer() as w:
        assert [k.removeprefix(LOCKS_PREFIX) for k in local_backend.list(LOCKS_PREFIX)] == [w.lock.id]
        w.add_stream("idx", [b"x\n"])
        w.commit()
    assert "expired at" in caplog.text and "is not running" in caplog.text
    assert list(local_backend.list(LOCKS_PREFIX)) == []


def test_a_live_lock_is_kept_and_still_blocks_prune(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    # another host (its pid cannot be asked), and this host with a live pid
    write_lock(local_backend, "c" * 32, host="other-host", pid=1, expires_in=300)
    with pytest.raises(LockedError, match="other-host"):
        repo.prune()
    local_backend.delete(LOCKS_PREFIX + "c" * 32)
    write_lock(local_backend, "d" * 32, host=socket.gethostname(), pid=os.getpid(), expires_in=300)
    with pytest.raises(LockedError, match=f"pid {os.getpid()}"):
        repo.prune()
    assert len(list(local_backend.list(LOCKS_PREFIX))) == 1


def test_prune_waits_for_no_one_and_refuses_while_a_backup_runs(backend: Backend) -> None:
    repo = new_repo(backend)
    with repo.writer() as w:
        w.add_stream("idx", [b"data"])
        with pytest.raises(LockedError, match="locked: shared lock"):
            repo.prune()
        w.commit()
    assert repo.prune().chunks_deleted == 0


def test_a_backup_waits_while_prune_holds_the_exclusive_lock(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    with repo.lock("exclusive"), pytest.raises(LockedError, match="exclusive lock"):
        repo.writer(lock_wait=0.3)


def test_unlock_removes_stale_locks_and_remove_all_removes_live_ones(local_backend: Backend) -> None:
    repo = new_repo(local_backend, lock_ttl=0.5)
    stale = repo.lock("shared")
    stale._stop.set()  # a crashed holder
    time.sleep(0.6)
    assert [lock.id for lock in repo.unlock()] == [stale.id]
    live = Repository.open(local_backend, "correct horse").lock("shared")
    assert repo.unlock() == []
    assert [lock.id for lock in repo.unlock(remove_all=True)] == [live.id]
    live.release()
