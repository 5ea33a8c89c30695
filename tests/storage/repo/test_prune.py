"""storage/repo/prune.py: what a crashed backup left is reclaimed, a referenced chunk is
never lost to a prune running beside backups, and reuse of pruned chunks is refused."""
from __future__ import annotations

import threading
import time

import pytest

from storage.backends import Backend
from storage.repo import LockedError, Repository, RepositoryError
from storage.repo.format import DATA_PREFIX, LOCKS_PREFIX, PACKS_PREFIX
from tests.storage.repo.helpers import backup, new_repo, restore
from tests.storage.streams import ndjson_stream


@pytest.mark.parametrize("version", [1, 2])
def test_a_crash_before_commit_leaves_no_snapshot_and_prune_reclaims_it(backend: Backend, version: int) -> None:
    import os

    repo = new_repo(backend, lock_ttl=2.0, version=version)
    kept = backup(repo, {"a": [b"kept\n"]})
    w = repo.writer()
    # Incompressible: v2 uploads a full pack before the crash (nothing indexes it).
    w.add_stream("idx", [os.urandom(20 << 20)])
    w._pool.shutdown()
    if w.packs is not None:
        w.packs._pool.shutdown()  # the pack uploads it had started are done
    # The worker dies here: no commit, no release; its lock stops being refreshed.
    w.lock._stop.set()
    with pytest.raises(LockedError, match="shared lock"):
        repo.prune()
    assert [m.id for m in Repository.open(backend, "correct horse").snapshots()] == [kept]
    prefix = DATA_PREFIX if version == 1 else PACKS_PREFIX
    orphans = len(list(backend.list(prefix))) - 1
    assert orphans >= 1
    time.sleep(2.1)  # the crashed worker's lock expires
    result = repo.prune()
    deleted = result.chunks_deleted if version == 1 else result.packs_deleted
    assert deleted == orphans and result.stale_locks_removed == 1
    assert len(list(backend.list(prefix))) == 1
    assert repo.check(read_data=True).ok
    assert list(backend.list(LOCKS_PREFIX)) == []
    assert restore(repo, kept, "a") == b"kept\n"


def test_concurrent_backups_and_prunes_never_lose_a_referenced_chunk(backend: Backend) -> None:
    repo = new_repo(backend)
    other = Repository.open(backend, "correct horse", "team/repo")
    stop = threading.Event()
    errors: list[BaseException] = []
    prunes = []

    def pruner() -> None:
        while not stop.is_set():
            try:
                prunes.append(other.prune())
            except LockedError:
                pass
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return
            time.sleep(0.05)

    t = threading.Thread(target=pruner)
    t.start()
    try:
        for i in range(6):
            with repo.writer(lock_wait=30) as w:
                w.add_stream("idx", ndjson_stream(1 << 20, seed=i % 3))
                w.add_stream(f"junk{i}", [b"orphan %d" % i])
                if i % 2:
                    w.commit()
            # forget everything but the last committed snapshot, so prunes have work
            snaps = repo.snapshots()
            for m in snaps[:-1]:
                repo.delete_snapshot(m.id)
    finally:
        stop.set()
        t.join()
    assert not errors, errors
    other.prune()
    result = repo.check(read_data=True)
    assert result.ok, result.problems
    assert result.chunks_unreferenced == 0
    last = repo.snapshots()[-1]
    assert restore(repo, last.id, "idx") == b"".join(ndjson_stream(1 << 20, seed=5 % 3))


def test_reuse_refuses_a_stream_whose_chunks_were_pruned(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    sid = backup(repo, {"idx": [b"abc" * 1000]})
    old = repo.manifest(sid)
    repo.delete_snapshot(sid)
    repo.prune()
    with repo.writer() as w, pytest.raises(RepositoryError, match="chunks are gone"):
        w.reuse_stream("idx", old)
