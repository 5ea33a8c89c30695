"""Repository format v2 (issue 17, point 6): chunks in pack files, an index of packs that
writers read instead of listing packs/, prune that deletes or repacks packs by a stated
rule, v1 repositories still readable and writable and upgraded by migrate."""
from __future__ import annotations

import datetime as dt
import hashlib
import math
import os
import random
import tempfile
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
import yaml

from storage.backends import Backend
from storage.repo import LockedError, Repository, RepositoryError, RetentionRules
from storage.repo.format import (
    CONFIG_KEY,
    DATA_PREFIX,
    INDEX_PREFIX,
    PACKS_PREFIX,
    pack_key,
)
from storage.repo.index import MEMORY_MAX, Index, encode_index
from storage.repo.packs import Blob, PackSink, parse_pack
from tests.storage.conftest import make_backend

FAST_KDF = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
SMALL = (4096, 8192, 16384)


class CountingBackend(Backend):
    """A real backend whose calls are counted (puts by prefix, lists by prefix)."""

    def __init__(self, inner: Backend) -> None:
        self.inner = inner
        self.kind = inner.kind
        self.puts: list[str] = []
        self.lists: list[str] = []
        self.gets: list[str] = []

    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        self.puts.append(key)
        self.inner.put(key, data, if_absent=if_absent)

    def get(self, key: str) -> bytes:
        self.gets.append(key)
        return self.inner.get(key)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        self.gets.append(key)
        return self.inner.get_range(key, start, length)

    def open(self, key: str) -> BinaryIO:
        self.gets.append(key)  # a streamed read of the whole object
        return self.inner.open(key)

    def list(self, prefix: str = "") -> Iterator[str]:
        self.lists.append(prefix)
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def describe(self) -> str:
        return self.inner.describe()


def new_repo(backend: Backend, version: int = 2, **kw: Any) -> Repository:
    return Repository.init(backend, "pw", "team/packs", kdf_params=FAST_KDF, version=version, **kw)


def backup(repo: Repository, streams: dict[str, Any], when: dt.datetime | None = None) -> str:
    with repo.writer() as w:
        for name, data in streams.items():
            w.add_stream(name, data)
        return w.commit(meta={"status": "Succeeded"}, time=when)


def restore(repo: Repository, ref: str, name: str) -> bytes:
    return b"".join(repo.read_stream(ref, name))


@pytest.mark.parametrize("kind", ["local", "s3"])
@pytest.mark.parametrize("version", [1, 2])
def test_both_formats_write_read_check_forget_prune_and_restore(kind: str, version: int,
                                                               request: pytest.FixtureRequest,
                                                               tmp_path: Path) -> None:
    backend = make_backend(kind, request, tmp_path)
    repo = new_repo(backend, version, chunker=SMALL)
    assert yaml.safe_load(backend.get(CONFIG_KEY))["version"] == version
    t0 = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    data = {i: os.urandom(150_000 + i * 1000) for i in range(3)}
    ids = [backup(repo, {"indices/a": data[i], "indices/b": [b"same\n" * 100]}, t0 + dt.timedelta(days=i))
           for i in range(3)]
    # no chunk is larger than the chunker's maximum, so each stream has at least this many
    # (the chunker's polynomial is drawn per repository: the exact count varies from run to run)
    at_least = {i: math.ceil(len(data[i]) / SMALL[2]) for i in data}
    layout = {p: len(list(backend.list(p))) for p in (DATA_PREFIX, PACKS_PREFIX, INDEX_PREFIX)}
    if version == 1:
        assert layout[DATA_PREFIX] > sum(at_least.values()) and layout[PACKS_PREFIX] == layout[INDEX_PREFIX] == 0
    else:
        assert layout[DATA_PREFIX] == 0 and layout[PACKS_PREFIX] == 3 and layout[INDEX_PREFIX] == 3
    again = Repository.open(backend, "pw", "team/packs")
    assert again.version == version
    assert [restore(again, i, "indices/a") for i in ids] == [data[0], data[1], data[2]]
    checked = again.check(read_data=True)
    assert checked.ok, checked.problems
    assert checked.chunks_read == checked.chunks_referenced > sum(at_least.values())

    forgot = again.forget(RetentionRules(last=1), now=t0 + dt.timedelta(days=3))
    assert [m.id for m in forgot.remove] == ids[1::-1]
    pruned = again.prune()
    assert pruned.chunks_deleted >= at_least[0] + at_least[1] and pruned.snapshots == 1
    if version == 2:
        # backup 1's pack is unused: deleted; backup 0's holds the shared indices/b (mostly
        # unused) and backup 2's is small beside it: both repacked into one
        assert (pruned.packs_deleted, pruned.packs_repacked, pruned.packs_written) == (1, 2, 1)
        assert len(list(backend.list(PACKS_PREFIX))) == 1
    after = Repository.open(backend, "pw", "team/packs").check(read_data=True)
    assert after.ok and after.chunks_unreferenced == 0, after.problems
    assert restore(Repository.open(backend, "pw"), "latest", "indices/a") == data[2]
    assert restore(again, ids[2], "indices/b") == b"same\n" * 100
    # still writable in its own format
    backup(again, {"indices/c": [b"more\n"]})
    assert yaml.safe_load(backend.get(CONFIG_KEY))["version"] == version
    assert Repository.open(backend, "pw").check(read_data=True).ok


def test_a_backup_makes_one_put_per_pack_and_lists_neither_data_nor_packs(tmp_path: Path) -> None:
    from storage.backends import open_backend

    backend = CountingBackend(open_backend("local", root=str(tmp_path / "repo")))
    repo = new_repo(backend)
    backend.puts.clear()
    with repo.writer() as w:
        info = w.add_stream("indices/big", [os.urandom(40 << 20)])  # incompressible: 40 MiB stored
        w.commit()
    packs = [k for k in backend.puts if k.startswith(PACKS_PREFIX)]
    assert len(packs) == 3  # 16 + 16 + 8 MiB, not one object per chunk (40 of them)
    assert len(backend.puts) <= 3 + 1 + 1 + 1  # packs, one index file, the manifest, the lock
    assert info.stored_bytes_new / len(backend.puts) > 6 << 20
    assert not [p for p in backend.lists if p.startswith((PACKS_PREFIX, DATA_PREFIX))]
    # the second backup of the same data writes no pack and still lists neither
    backend.puts.clear()
    with repo.writer() as w:
        again = w.add_stream("indices/big2", [b"".join(repo.read_stream("latest", "indices/big"))])
        w.commit()
    assert again.chunks_new == 0 and not [k for k in backend.puts if k.startswith(PACKS_PREFIX)]
    assert not [p for p in backend.lists if p.startswith((PACKS_PREFIX, DATA_PREFIX))]


def _spooled(directory: Path) -> list[str]:
    """What this process holds open in `directory` (a nameless file reads '#123 (deleted)')."""
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith(str(directory) + "/"):
            out.append(target)
    return out


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_v2_writer_spools_its_packs_to_nameless_files_and_holds_no_pack_in_memory(
        kind: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 17.5: the open pack and the packs being uploaded are temporary files without
    a name (gone when closed or when the process dies), uploaded from the file."""
    backend = make_backend(kind, request, tmp_path)
    repo = new_repo(backend, chunker=(64 << 10, 128 << 10, 256 << 10))
    spool = tmp_path / "spool"
    spool.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    rnd, sha, seen = random.Random(17), hashlib.sha256(), []

    def pieces(n: int, fail: bool = False) -> Iterator[bytes]:
        for _ in range(n):
            piece = rnd.randbytes(1 << 20)  # incompressible: n MiB stored
            sha.update(piece)
            yield piece
            seen.append((sorted(os.listdir(spool)), _spooled(spool)))
        if fail:
            raise OSError("the cluster went away")

    tracemalloc.start()
    try:
        backup(repo, {"indices/big": pieces(40)})  # two full packs and a last one
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the chunker's 8 MiB window and the chunks in flight; a pack in memory was 16 MiB more
    assert peak < 20 << 20, f"{peak / 2**20:.1f} MiB"
    assert all(names == [] for names, _ in seen)  # never a name in the directory...
    assert any(files for _, files in seen)  # ...though a pack was open there
    assert _spooled(spool) == []
    assert hashlib.sha256(restore(repo, "latest", "indices/big")).digest() == sha.digest()
    with pytest.raises(OSError, match="went away"), repo.writer() as w:
        w.add_stream("indices/broken", pieces(20, fail=True))
    assert _spooled(spool) == [] and os.listdir(spool) == []  # a failed writer leaves no file


def test_a_pack_is_re_indexed_from_its_own_header(local_backend: Backend) -> None:
    repo = new_repo(local_backend, chunker=SMALL)
    sid = backup(repo, {"s": os.urandom(100_000)})
    (pack,) = list(local_backend.list(PACKS_PREFIX))
    blobs = parse_pack(repo.cipher, local_backend.get(pack))
    indexed = sorted((cid, loc.offset, loc.length, loc.size) for cid, loc in repo.index.entries())
    assert sorted((b.chunk_id, b.offset, b.length, b.size) for b in blobs) == indexed
    assert {b.chunk_id for b in blobs} == set(repo.manifest(sid).streams["s"].chunks)
    assert sum(b.size for b in blobs) == 100_000


def test_a_pack_sink_cuts_packs_at_its_target_and_drops_an_unfinished_pack(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    blobs = [(os.urandom(32).hex(), os.urandom(1000)) for _ in range(25)]
    with PackSink(local_backend, repo.cipher, 10_000) as sink:
        for cid, sealed in blobs:
            sink.add(cid, sealed, 2 * len(sealed))
        assert len(sink.written) == 2  # two full packs of ten blobs uploaded, five still open
        written = sink.finish()
    assert [len(b) for b in written.values()] == [10, 10, 5]
    for pack_id, listed in written.items():
        data = local_backend.get(pack_key(pack_id))
        assert hashlib.sha256(data).hexdigest() == pack_id and parse_pack(repo.cipher, data) == listed
    assert [data[b.offset:b.offset + b.length] for pid in written
            for data in [local_backend.get(pack_key(pid))] for b in written[pid]] == [s for _, s in blobs]
    with pytest.raises(RuntimeError), PackSink(local_backend, repo.cipher, 10_000) as sink:
        sink.add(*blobs[0][:2], 1)
        raise RuntimeError("a failed read")
    assert sink._builder._file is None and len(list(local_backend.list(PACKS_PREFIX))) == 3


def _pack_of(repo: Repository, chunk_id: str) -> str:
    loc = repo.index.lookup(chunk_id)
    assert loc is not None
    return loc.pack_id


def test_prune_deletes_unused_packs_repacks_partly_used_ones_and_keeps_the_rest(local_backend: Backend) -> None:
    repo = new_repo(local_backend, chunker=SMALL)
    repo.pack_target = 256 << 10  # small packs below 32 KiB: none here
    gone = backup(repo, {"y": os.urandom(60_000)})                           # pack Y
    z1, z2 = os.urandom(180_000), os.urandom(15_000)
    mixed_z = backup(repo, {"z1": z1, "z2": z2})                              # pack Z: z2 ~8%
    w1, w2 = os.urandom(60_000), os.urandom(60_000)
    mixed_w = backup(repo, {"w1": w1, "w2": w2})                              # pack W: w2 50%
    with repo.writer() as w:
        w.reuse_stream("z1", mixed_z)
        w.reuse_stream("w1", mixed_w)
        keeper = w.commit()
    m = {sid: repo.manifest(sid) for sid in (gone, mixed_z, mixed_w)}
    pack_y, pack_z, pack_w = (_pack_of(repo, m[s].streams[n].chunks[0])
                              for s, n in ((gone, "y"), (mixed_z, "z1"), (mixed_w, "w1")))
    assert {_pack_of(repo, c) for c in m[mixed_z].streams["z2"].chunks} == {pack_z}
    for sid in (gone, mixed_z, mixed_w):
        repo.delete_snapshot(sid)

    result = repo.prune()
    assert (result.packs_deleted, result.packs_repacked, result.packs_kept, result.packs_written) == (1, 1, 1, 1)
    left = {k.rsplit("/", 1)[-1] for k in local_backend.list(PACKS_PREFIX)}
    assert pack_y not in left and pack_w not in left and pack_z in left and len(left) == 2
    (new_w,) = left - {pack_z}
    assert {_pack_of(repo, c) for c in m[mixed_w].streams["w1"].chunks} == {new_w}
    # kept whole: its unreferenced z2 blobs stay indexed (a later backup may reuse them)
    assert all(repo.index.lookup(c) is not None for c in m[mixed_z].streams["z2"].chunks)
    assert not any(repo.index.lookup(c) for c in m[mixed_w].streams["w2"].chunks)
    fresh = Repository.open(local_backend, "pw")
    checked = fresh.check(read_data=True)
    assert checked.ok and checked.chunks_unreferenced == len(set(m[mixed_z].streams["z2"].chunks))
    assert restore(fresh, keeper, "z1") == z1 and restore(fresh, keeper, "w1") == w1
    assert len(list(local_backend.list(INDEX_PREFIX))) == 1  # merged


def test_prune_keeps_the_chunks_it_is_told_to_keep(local_backend: Backend) -> None:
    repo = new_repo(local_backend, chunker=SMALL)
    sid = backup(repo, {"s": os.urandom(50_000)})
    chunks = repo.manifest(sid).streams["s"].chunks
    repo.delete_snapshot(sid)
    assert repo.prune(keep=chunks).packs_deleted == 0
    assert all(repo.index.lookup(c) for c in chunks)
    assert repo.prune().packs_deleted == 1 and not list(local_backend.list(PACKS_PREFIX))


def test_a_v1_repository_is_migrated_to_v2_in_place(local_backend: Backend) -> None:
    repo = new_repo(local_backend, 1, chunker=SMALL)
    data = os.urandom(200_000)
    sid = backup(repo, {"s": data, "t": [b"tiny\n"]})
    stale = Repository.open(local_backend, "pw")  # opened as v1 before the upgrade
    chunks = len(list(local_backend.list(DATA_PREFIX)))

    result = repo.migrate()
    assert (result.chunks, result.from_version, result.to_version) == (chunks, 1, 2)
    assert yaml.safe_load(local_backend.get(CONFIG_KEY))["version"] == 2
    assert not list(local_backend.list(DATA_PREFIX)) and list(local_backend.list(PACKS_PREFIX))
    fresh = Repository.open(local_backend, "pw")
    assert fresh.version == 2 and restore(fresh, sid, "s") == data
    assert fresh.check(read_data=True).ok
    with fresh.writer() as w:  # dedups against the migrated chunks
        assert w.add_stream("s", data).chunks_new == 0
        w.commit()
    with pytest.raises(RepositoryError, match="migrated to format version 2"):
        stale.writer()
    assert fresh.migrate().chunks == 0  # again: nothing left to do


def test_a_large_index_lives_in_the_disk_cache_and_is_read_from_it_next_time(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from storage.backends import open_backend

    monkeypatch.setenv("STASHBOARD_REPO_CACHE", str(tmp_path / "cache"))
    backend = CountingBackend(open_backend("local", root=str(tmp_path / "repo")))
    repo = new_repo(backend)
    n = 3 * MEMORY_MAX
    ids = sorted(os.urandom(32).hex() for _ in range(n))
    packs = {os.urandom(32).hex(): [Blob(c, 100 * i, 100, 200) for i, c in enumerate(ids[j::7])]
             for j in range(7)}
    index_id, sealed, _ = encode_index(repo.cipher, packs)
    backend.put(INDEX_PREFIX + index_id, sealed)
    where = {b.chunk_id: (p, b.offset) for p, blobs in packs.items() for b in blobs}

    for round_ in range(2):
        backend.gets.clear()
        index = Index(backend, repo.cipher, repo.id, "x")
        index.load()
        assert len(index) == n
        table = index.tables[index_id]
        assert table._body is None and table._fd is not None  # records on disk, not in memory
        assert backend.gets == ([INDEX_PREFIX + index_id] if round_ == 0 else [])
        for cid in ids[::97]:
            loc = index.lookup(cid)
            assert loc is not None and (loc.pack_id, loc.offset) == where[cid]
        assert index.lookup(os.urandom(32).hex()) is None
        assert sorted(c for c, _ in index.entries()) == ids
        index.close()
    assert (tmp_path / "cache" / repo.id / index_id).exists()


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["local", "s3"])
def test_backups_restores_and_prunes_at_once_lose_nothing_with_packs(kind: str, request: pytest.FixtureRequest,
                                                                    tmp_path: Path) -> None:
    """restic's rules: a backup holds a shared lock, prune an exclusive one; prune only
    runs between backups, deletes or repacks packs; a restore holds no lock and follows
    a repacked chunk to its new pack. After every prune no index entry names a deleted pack."""
    backend = make_backend(kind, request, tmp_path)
    repo = new_repo(backend, chunker=SMALL)
    repo.pack_target = 64 << 10
    pruner_repo = Repository.open(backend, "pw")
    pruner_repo.pack_target = 64 << 10
    reader_repo = Repository.open(backend, "pw")
    stop = threading.Event()
    errors: list[BaseException] = []
    prunes: list[Any] = []
    expected: dict[str, bytes] = {}
    restored = [0]
    pruned = threading.Event()

    def pruner() -> None:
        while not stop.is_set():
            try:
                prunes.append(pruner_repo.prune())
                pruned.set()
                problems = [p for p in pruner_repo.check().problems if "index lists pack" in p]
                assert not problems, problems
            except LockedError:
                pass
            except BaseException as e:  # noqa: BLE001
                errors.append(e)
                return
            time.sleep(0.02)

    def reader() -> None:
        while not stop.is_set():
            latest = reader_repo.latest()
            if latest is None or latest.id not in expected:  # committed, not yet recorded
                continue
            try:
                got = restore(reader_repo, latest.id, "base")
                assert got == expected[latest.id], "restore differs"
                restored[0] += 1
            except BaseException as e:  # noqa: BLE001
                if latest.id in reader_repo.snapshot_ids():
                    errors.append(e)  # lost while its snapshot still exists
                    return

    base = os.urandom(120_000)
    threads = [threading.Thread(target=pruner), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    try:
        for i in range(8):
            with repo.writer(lock_wait=30) as w:
                # Each snapshot keeps most of the previous one and changes a part: packs
                # end up partly referenced once older snapshots are forgotten.
                base = base[:i * 10_000] + os.urandom(10_000) + base[(i + 1) * 10_000:]
                w.add_stream("base", base)
                w.add_stream(f"junk{i}", os.urandom(30_000))
                sid = w.commit()
                expected[sid] = base
            for m in repo.snapshots()[:-2]:
                repo.delete_snapshot(m.id)
            # on a busy machine the pruner may never find a gap: give it one per backup
            pruned.clear()
            pruned.wait(20)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert not errors, errors
    assert sum(p.packs_repacked + p.packs_deleted for p in prunes) >= 1
    assert restored[0] >= 1
    pruner_repo.prune()
    result = Repository.open(backend, "pw").check(read_data=True)
    assert result.ok, result.problems
    assert result.packs_unindexed == 0
    for m in repo.snapshots():
        assert restore(repo, m.id, "base") == expected[m.id]


def test_persist_makes_the_chunks_so_far_durable_for_a_checkpoint(local_backend: Backend) -> None:
    """What an interrupted backup's checkpoint relies on: after persist() the chunks stored
    so far are in uploaded, indexed packs; a crash then loses none of them, a later
    backup reuses them, and prune keeps them while `keep` names them."""
    repo = new_repo(local_backend, chunker=SMALL, lock_ttl=1.0)
    part = os.urandom(80_000)
    w = repo.writer()
    info = w.add_stream("indices/a", part)
    assert not list(local_backend.list(PACKS_PREFIX))  # still in the open pack
    w.persist()
    checkpoint = list(w.streams["indices/a"].chunks)  # what a checkpoint would name
    assert len(list(local_backend.list(INDEX_PREFIX))) == 1 and info.chunks_new == len(set(checkpoint))
    w._pool.shutdown()
    w.lock._stop.set()  # the worker dies: no commit
    time.sleep(1.1)
    fresh = Repository.open(local_backend, "pw")
    assert fresh.prune(keep=checkpoint).packs_deleted == 0
    with fresh.writer() as again:
        assert again.add_stream("indices/a", part).chunks_new == 0
        sid = again.commit()
    assert restore(fresh, sid, "indices/a") == part


@pytest.mark.parametrize("fails_at", [INDEX_PREFIX, PACKS_PREFIX])
def test_a_prune_interrupted_between_its_steps_leaves_every_index_entry_on_a_pack(
        tmp_path: Path, fails_at: str) -> None:
    """Prune writes new packs, then the merged index, then deletes the old index files,
    then the packs: cut short at either deletion, no index entry names a missing pack and
    the next prune finishes the job."""
    from storage.backends import BackendError, open_backend

    class DeletesFail(CountingBackend):
        def delete(self, key: str) -> None:
            if key.startswith(fails_at):
                raise BackendError(f"injected: the storage refuses to delete {key}")
            self.inner.delete(key)

    inner = open_backend("local", root=str(tmp_path / "repo"))
    repo = new_repo(inner, chunker=SMALL)
    keep = os.urandom(60_000)
    sid = backup(repo, {"keep": keep, "drop": os.urandom(60_000)})
    gone = backup(repo, {"other": os.urandom(60_000)})
    with repo.writer() as w:
        w.reuse_stream("keep", sid)
        kept = w.commit()
    repo.delete_snapshot(sid)
    repo.delete_snapshot(gone)

    broken = Repository.open(DeletesFail(inner), "pw")
    with pytest.raises(BackendError, match="injected"):
        broken.prune()
    halfway = Repository.open(inner, "pw")
    checked = halfway.check(read_data=True)
    assert checked.ok, checked.problems
    if fails_at == PACKS_PREFIX:  # the old index files went, their packs stayed: unindexed
        assert checked.packs_unindexed >= 1 and len(list(inner.list(INDEX_PREFIX))) == 1
    else:  # old and merged index files side by side, every pack still there
        assert checked.packs_unindexed == 0 and len(list(inner.list(INDEX_PREFIX))) > 1
    assert restore(halfway, kept, "keep") == keep
    halfway.prune()
    done = Repository.open(inner, "pw").check(read_data=True)
    assert done.ok and done.packs_unindexed == 0 and done.packs == 1 and done.chunks_unreferenced == 0


def test_a_flush_waits_for_a_chunk_another_stream_claimed_before_it(local_backend: Backend) -> None:
    """Stream A finds chunk X claimed by stream B (not yet sealed into the open pack) and
    checkpoints; the persist before that checkpoint must not return before X is in an
    indexed pack, or the checkpoint names a chunk that dies with the process."""
    from storage.repo.packstore import PackStore

    repo = new_repo(local_backend, chunker=SMALL)
    repo.index.load()
    store = PackStore(repo)
    chunk = os.urandom(5000)
    cid = repo.cipher.chunk_id(chunk)
    assert store.claim(cid) and not store.claim(cid)   # B claims it; A finds it claimed
    flushed = threading.Thread(target=store.flush)      # A's persist
    flushed.start()
    flushed.join(0.3)
    assert flushed.is_alive() and cid not in repo.index
    store.add(cid, repo.cipher.seal_chunk(cid, chunk), len(chunk))   # B seals it
    flushed.join(10)
    assert not flushed.is_alive() and cid in repo.index
    assert Repository.open(local_backend, "pw").sealed_chunk(cid)    # another process finds it
    store.close()
