"""storage/repo/writer.py: streams in and out of a snapshot (empty, tiny, 200 MiB in
bounded memory), reuse of an earlier stream, several threads, and nothing committed
unless commit() is reached."""
from __future__ import annotations

import hashlib
import threading

import pytest

from storage.backends import Backend
from storage.repo import Repository
from storage.repo.format import LOCKS_PREFIX, SNAPSHOTS_PREFIX
from tests.storage.damage import stored_keys
from tests.storage.repo.helpers import backup, new_repo, restore
from tests.storage.streams import ndjson_stream


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

    from tests.storage.conftest import make_backend

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
