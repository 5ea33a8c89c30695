from __future__ import annotations

import hashlib
import threading
import time

import pytest

from storage.backends import Backend
from storage.repo import (
    CorruptChunk,
    LockedError,
    Repository,
    RepositoryError,
    WrongPassword,
)
from storage.repo.format import DATA_PREFIX, LOCKS_PREFIX, PACKS_PREFIX, SNAPSHOTS_PREFIX

from .damage import corrupt_chunk, stored_keys
from .streams import ndjson_stream

# Cheap KDF parameters: the tests open many repositories.
FAST_KDF = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


def new_repo(backend: Backend, **kw) -> Repository:  # type: ignore[no-untyped-def]
    return Repository.init(backend, "correct horse", "team/repo", kdf_params=FAST_KDF, **kw)


def backup(repo: Repository, streams: dict[str, object], **meta: object) -> str:
    with repo.writer() as w:
        for name, data in streams.items():
            w.add_stream(name, data)  # type: ignore[arg-type]
        return w.commit(meta={"status": "Succeeded", **meta})


def restore(repo: Repository, ref: str, name: str) -> bytes:
    return b"".join(repo.read_stream(ref, name))


def test_it_round_trips_empty_and_tiny_streams(backend: Backend) -> None:
    repo = new_repo(backend)
    sid = backup(repo, {"empty": [], "tiny": [b"{}\n"], "small": list(ndjson_stream(3 << 20))})
    again = Repository.open(backend, "correct horse", "team/repo")
    m = again.manifest(sid)
    assert m.streams["empty"].size == 0 and m.streams["empty"].chunks == []
    assert restore(again, sid, "empty") == b""
    assert restore(again, "latest", "tiny") == b"{}\n"
    assert restore(again, sid[:8], "small") == b"".join(ndjson_stream(3 << 20))
    assert m.meta["status"] == "Succeeded"


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_it_round_trips_a_large_stream_in_bounded_memory(kind: str, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    # 200 MiB on the local directory and on S3 only: through the emulators it would add a
    # minute for no new code path (their small round trips run above).
    import resource

    from .conftest import make_backend

    size = 200 << 20
    repo = new_repo(make_backend(kind, request, tmp_path))
    expected = hashlib.sha256()

    def source():  # type: ignore[no-untyped-def]
        for part in ndjson_stream(size, seed=7):
            expected.update(part)
            yield part

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    sid = backup(repo, {"big": source()})
    got = hashlib.sha256()
    total = 0
    for part in repo.read_stream(sid, "big"):
        got.update(part)
        total += len(part)
    assert total == size
    assert got.hexdigest() == expected.hexdigest() == repo.manifest(sid).streams["big"].sha256
    grown_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    assert grown_mib < 100, f"peak RSS grew by {grown_mib:.0f} MiB for a {size >> 20} MiB stream"


def test_a_second_snapshot_of_identical_data_uploads_almost_nothing(backend: Backend) -> None:
    repo = new_repo(backend)
    size = 24 << 20
    with repo.writer() as w:
        first = w.add_stream("idx", ndjson_stream(size, seed=1))
        w.commit()
    with repo.writer() as w:
        second = w.add_stream("idx", ndjson_stream(size, seed=1, block=333_333))
        w.commit()
    assert first.chunks_new == first.chunks > 1
    assert second.bytes_new < 0.001 * size
    assert second.sha256 == first.sha256


def test_an_edit_in_the_middle_uploads_only_nearby_chunks(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    data = b"".join(ndjson_stream(32 << 20, seed=3))
    edited = data[:16 << 20] + b'{"_id":"inserted"}\n' + data[16 << 20:]
    backup(repo, {"idx": [data]})
    with repo.writer() as w:
        info = w.add_stream("idx", [edited])
        w.commit()
    assert info.bytes_new < 0.25 * len(data)
    assert restore(repo, "latest", "idx") == edited


def test_a_stream_is_reused_from_an_earlier_snapshot_without_uploading(backend: Backend) -> None:
    repo = new_repo(backend)
    first = backup(repo, {"users": ndjson_stream(2 << 20, seed=2)})
    keys_before = stored_keys(repo)
    with repo.writer() as w:
        info = w.reuse_stream("users", repo.manifest(first), meta={"unchanged": True})
        sid = w.commit()
    assert info.reused and info.bytes_new == 0
    assert stored_keys(repo) == keys_before
    assert repo.manifest(sid).streams["users"].meta == {"unchanged": True}
    assert restore(repo, sid, "users") == b"".join(ndjson_stream(2 << 20, seed=2))


def test_streams_may_be_added_from_several_threads(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    with repo.writer() as w:
        threads = [threading.Thread(target=w.add_stream,
                                    args=(f"s{i}", ndjson_stream(3 << 20, seed=i % 2)))
                   for i in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        sid = w.commit()
    m = repo.manifest(sid)
    assert sorted(m.streams) == ["s0", "s1", "s2", "s3"]
    assert m.streams["s0"].chunks == m.streams["s2"].chunks
    assert restore(repo, sid, "s3") == b"".join(ndjson_stream(3 << 20, seed=1))
    assert repo.check(read_data=True).ok


def test_a_corrupted_chunk_is_named_by_check_and_by_restore(backend: Backend) -> None:
    repo = new_repo(backend)
    sid = backup(repo, {"idx": ndjson_stream(3 << 20, seed=4), "other": [b"fine\n"]})
    bad_id = repo.manifest(sid).streams["idx"].chunks[1]
    key = corrupt_chunk(repo, bad_id, at=100)

    assert repo.check().ok  # present, so the quick check passes
    result = repo.check(read_data=True)
    assert not result.ok
    assert result.bad_chunks == {bad_id: [f"{sid[:8]}/idx"]}
    assert bad_id in result.problems[0] and f"{sid[:8]}/idx" in result.problems[0]
    with pytest.raises(CorruptChunk) as e:
        restore(repo, sid, "idx")
    assert bad_id in str(e.value) and "idx" in str(e.value) and sid[:8] in str(e.value)
    assert restore(repo, sid, "other") == b"fine\n"

    backend.delete(key)
    missing = repo.check()
    assert not missing.ok and "missing" in missing.problems[0]


def test_a_wrong_password_is_refused_with_a_clear_message(backend: Backend) -> None:
    new_repo(backend)
    with pytest.raises(WrongPassword, match="^wrong password for repository team/repo$"):
        Repository.open(backend, "battery staple", "team/repo")


def test_opening_where_no_repository_is_says_so(backend: Backend) -> None:
    with pytest.raises(RepositoryError, match="no repository at"):
        Repository.open(backend, "pw")


def test_init_twice_is_refused(backend: Backend) -> None:
    new_repo(backend)
    with pytest.raises(RepositoryError, match="already initialized"):
        new_repo(backend)


def test_scrypt_keys_work_too(local_backend: Backend) -> None:
    Repository.init(local_backend, "pw", kdf="scrypt", kdf_params={"n": 1024, "r": 8, "p": 1})
    assert Repository.open(local_backend, "pw").snapshots() == []
    with pytest.raises(WrongPassword):
        Repository.open(local_backend, "nope")


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


def test_an_abandoned_writer_commits_nothing(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    with repo.writer() as w:
        w.add_stream("idx", [b"x" * 100])
    assert repo.snapshots() == []
    assert list(local_backend.list(LOCKS_PREFIX)) == []


def test_a_failing_source_fails_add_stream_and_commits_nothing(local_backend: Backend) -> None:
    repo = new_repo(local_backend)

    def broken():  # type: ignore[no-untyped-def]
        yield b"x" * 1000
        raise ConnectionError("cluster went away")

    with pytest.raises(ConnectionError), repo.writer() as w:
        w.add_stream("idx", broken())
        w.commit()
    assert list(local_backend.list(SNAPSHOTS_PREFIX)) == []


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


def test_latest_filters_and_resolves_ids(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    a = backup(repo, {"s": [b"1"]}, configuration="x")
    b = backup(repo, {"s": [b"2"]}, configuration="y")
    assert repo.latest().id == b  # type: ignore[union-attr]
    assert repo.latest(where=lambda m: m.meta.get("configuration") == "x").id == a  # type: ignore[union-attr]
    assert repo.manifest("latest").id == b
    assert [m.id for m in repo.snapshots()] == [a, b]
    with pytest.raises(RepositoryError, match="no snapshot"):
        repo.manifest("ffffffff")
    with pytest.raises(RepositoryError, match="no stream"):
        restore(repo, a, "nope")
