"""Checkpoints of uncommitted backups (issue 16.3): never a snapshot, resumable, kept by
prune while fresh and dropped once stale, known to check."""
from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from storage.backends import Backend
from storage.repo import Repository, RetentionRules
from storage.repo import writer as writer_module
from storage.repo.checkpoint import list_checkpoints
from storage.repo.format import CHECKPOINTS_PREFIX, SNAPSHOTS_PREFIX, RepositoryError

FAST_KDF = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
KEY = "config-uuid/full"


class Killed(Exception):
    pass


@pytest.fixture(params=[1, 2], ids=["v1", "v2"])
def version(request: pytest.FixtureRequest) -> int:
    """Every checkpoint behaviour on both formats: v1 (a chunk per object) and v2 (packs)."""
    return int(request.param)


def small_repo(backend: Backend, version: int = 2) -> Repository:
    return Repository.init(backend, "pw", "team/cp", kdf_params=FAST_KDF, chunker=(1024, 2048, 4096),
                           version=version)


def interrupted(repo: Repository, complete: dict[str, bytes], partial: tuple[str, bytes, int] | None = None) -> None:
    """A backup that stored `complete` streams and, when given, the first pieces of a
    partial one, then died (the writer is left without commit)."""
    w = repo.writer(checkpoint=KEY)
    for name, data in complete.items():
        w.add_stream(name, data, meta={"fingerprint": "f-" + name})
    if partial is not None:
        name, data, die_after = partial
        pos = {"pieces": 0}

        def pieces() -> Iterator[bytes]:
            for i in range(0, len(data), 1000):
                if i // 1000 == die_after:
                    raise Killed()
                pos["pieces"] = i // 1000 + 1
                yield data[i:i + 1000]

        with pytest.raises(Killed):
            w.add_stream(name, pieces(), meta={"fingerprint": "f-" + name}, position=lambda: dict(pos))
    w.checkpoint.flush()  # type: ignore[union-attr]
    w.lock.release()      # the process is gone: its lock goes stale


def test_an_interrupted_backup_leaves_a_checkpoint_that_is_never_a_snapshot(local_backend: Backend, version: int) -> None:
    repo = small_repo(local_backend, version)
    interrupted(repo, {"indices/a": os.urandom(50_000)})
    assert repo.snapshot_ids() == [] and repo.snapshots() == [] and repo.latest() is None
    assert [k for k in local_backend.list(SNAPSHOTS_PREFIX)] == []
    assert repo.forget(RetentionRules(last=1)).remove == []
    (cp,) = repo.checkpoints()
    assert cp.key == KEY and list(cp.streams) == ["indices/a"]
    # copied under snapshots/, a checkpoint does not open as a manifest (its own magic, in the AAD)
    local_backend.put(SNAPSHOTS_PREFIX + cp.id, local_backend.get(CHECKPOINTS_PREFIX + cp.id))
    with pytest.raises(RepositoryError, match="corrupt"):
        repo.manifest(cp.id)


def test_a_partial_stream_resumes_after_its_checkpointed_prefix(local_backend: Backend, version: int,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "SEGMENT_BYTES", 10_000)
    repo = small_repo(local_backend, version)
    data = os.urandom(100_000)
    interrupted(repo, {}, ("indices/big", data, 57))
    point = repo.resume_point(KEY)
    assert point is not None
    p = point.partial["indices/big"]
    done = p.position["pieces"]
    assert 40 <= done <= 57 and p.entry.size == done * 1000   # cut at a piece boundary, after durable chunks
    with repo.writer(checkpoint=KEY) as w:
        w.add_stream("indices/big", (data[i:i + 1000] for i in range(done * 1000, len(data), 1000)),
                     meta={"fingerprint": "f"}, resume=p)
        snapshot_id = w.commit(meta={"status": "Succeeded"})
    assert b"".join(repo.read_stream(snapshot_id, "indices/big")) == data   # sha256 checked too
    assert repo.checkpoints() == []   # the commit ended the configuration's checkpoints
    assert repo.check(read_data=True).ok


def test_prune_keeps_a_fresh_checkpoints_chunks_and_drops_a_stale_one(local_backend: Backend, version: int) -> None:
    repo = small_repo(local_backend, version)
    interrupted(repo, {"indices/a": os.urandom(30_000)})
    (cp,) = repo.checkpoints()
    result = repo.prune()
    assert result.chunks_deleted == 0 and result.checkpoints == 1 and result.chunks_kept == len(cp.chunks())
    check = repo.check(read_data=True)
    assert check.ok and check.checkpoints == 1 and check.chunks_unreferenced == 0
    # the chunks are there: the next run can reference the stream without reading it
    with repo.writer(checkpoint=KEY) as w:
        assert w.reuse_stream("indices/a", cp.as_manifest()).reused
    from storage.repo.prune import prune

    # that writer, left without commit, checkpointed too; older than any age, both are
    # stale (no live lock names them)
    result = prune(repo, checkpoint_max_age=-1)
    assert result.stale_checkpoints_removed == 2 and result.chunks_deleted == len(cp.chunks())
    assert list_checkpoints(repo) == []


def test_check_names_a_checkpoint_whose_chunk_is_missing(local_backend: Backend, version: int) -> None:
    repo = small_repo(local_backend, version)
    interrupted(repo, {"indices/a": os.urandom(30_000)})
    (cp,) = repo.checkpoints()
    cid = cp.streams["indices/a"].chunks[0]
    location = repo.chunk_location(cid)
    assert location is not None
    local_backend.delete(location[0])   # v1: the chunk's object; v2: its pack
    result = repo.check()
    assert not result.ok and any(f"checkpoint {cp.short_id}/indices/a" in p for p in result.problems)


def test_a_failed_commit_keeps_its_own_checkpoint_for_the_next_run(local_backend: Backend, version: int) -> None:
    repo = small_repo(local_backend, version)
    interrupted(repo, {"indices/a": os.urandom(20_000)})
    with repo.writer(checkpoint=KEY) as w:
        w.add_stream("indices/b", os.urandom(20_000))
        w.commit(meta={"status": "Failed"})
    (cp,) = repo.checkpoints()
    assert cp.id == w.checkpoint.checkpoint.id and list(cp.streams) == ["indices/b"]  # type: ignore[union-attr]


def test_a_resumed_run_interrupted_again_carries_what_it_had_not_reached(local_backend: Backend, version: int,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writer_module, "SEGMENT_BYTES", 10_000)
    repo = small_repo(local_backend, version)
    interrupted(repo, {"indices/a": os.urandom(20_000)}, ("indices/big", os.urandom(100_000), 50))
    point = repo.resume_point(KEY)
    w = repo.writer(checkpoint=KEY, resume=point)
    w.add_stream("indices/c", os.urandom(20_000))   # dies again before it reaches indices/big
    w.checkpoint.flush()  # type: ignore[union-attr]
    w.lock.release()
    (only,) = repo.checkpoints()   # the older one was replaced by the carrying one
    assert only.id == w.checkpoint.checkpoint.id  # type: ignore[union-attr]
    assert sorted(only.streams) == ["indices/a", "indices/c"] and list(only.partial) == ["indices/big"]
    assert only.partial["indices/big"].position == point.partial["indices/big"].position


def test_a_checkpoint_of_an_abandoned_writer_resumes_after_a_prune(local_backend: Backend, version: int,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The process dies mid-stream: no flush, no close, no commit. What its checkpoint names
    is durable (v2: in packs the index lists, though the writer's open pack was never
    uploaded); a prune before the next run keeps it (v2: the small packs are repacked, so
    the chunks move: the checkpoint names ids only) and the next run reads the prefix back."""
    monkeypatch.setattr(writer_module, "SEGMENT_BYTES", 10_000)
    repo = small_repo(local_backend, version)
    done_a, data = os.urandom(30_000), os.urandom(100_000)
    w = repo.writer(checkpoint=KEY)
    w.add_stream("indices/a", done_a, meta={"fingerprint": "f-a"})
    pos = {"pieces": 0}

    def pieces() -> Iterator[bytes]:
        for i in range(0, len(data), 1000):
            if i == 57_000:
                raise Killed()
            pos["pieces"] = i // 1000 + 1
            yield data[i:i + 1000]

    with pytest.raises(Killed):
        w.add_stream("indices/big", pieces(), meta={"fingerprint": "f-big"}, position=lambda: dict(pos))
    w.lock.release()   # abandoned: only its lock goes (stale)

    again = Repository.open(local_backend, "pw")   # the next process
    (cp,) = again.checkpoints()
    result = again.prune()
    assert result.checkpoints == 1 and result.chunks_kept == len(cp.chunks())
    if version == 2:
        assert result.packs_repacked >= 2 and result.packs_written == 1   # the small packs, moved
    assert again.check(read_data=True).ok
    point = again.resume_point(KEY)
    assert point is not None
    p = point.partial["indices/big"]
    done = p.position["pieces"]
    assert 40 <= done <= 57 and p.entry.size == done * 1000
    with again.writer(checkpoint=KEY, resume=point) as w2:
        assert w2.reuse_stream("indices/a", point.as_manifest()).reused
        w2.add_stream("indices/big", (data[i:i + 1000] for i in range(done * 1000, len(data), 1000)),
                      meta={"fingerprint": "f-big"}, resume=p)
        snapshot_id = w2.commit(meta={"status": "Succeeded"})
    assert b"".join(again.read_stream(snapshot_id, "indices/a")) == done_a
    assert b"".join(again.read_stream(snapshot_id, "indices/big")) == data
    assert again.checkpoints() == [] and again.check(read_data=True).ok


def test_on_v2_finished_small_streams_do_not_cost_a_pack_each(local_backend: Backend) -> None:
    """Each checkpoint write on v2 first uploads the open pack and an index file: finished
    streams are checkpointed once per checkpoint_every, not at every next stream's start."""
    repo = small_repo(local_backend, 2)
    with repo.writer(checkpoint=KEY, checkpoint_every=60) as w:
        for i in range(30):
            w.add_stream(f"indices/i{i}", os.urandom(5000))
        (cp,) = repo.checkpoints()    # written once already: the first stream's
        assert list(cp.streams) == ["indices/i0"]
        w.commit()
    assert len(list(local_backend.list("packs/"))) <= 2 and len(list(local_backend.list("index/"))) <= 2
