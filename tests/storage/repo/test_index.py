"""The v2 index (storage/repo/index.py): index files streamed into the local cache piece
by piece on a cold open, read like a file read whole, refused when damaged, and index
files written before the streaming still open."""
from __future__ import annotations

import hashlib
import os
import tracemalloc
from pathlib import Path

import pytest

from storage.backends import Backend, open_backend
from storage.repo import RepositoryError
from storage.repo import index as index_module
from storage.repo.crypto import Cipher, MasterKeys
from storage.repo.format import index_key
from storage.repo.index import MAX_ENTRIES, MEMORY_MAX, Index, IndexTable, encode_index
from storage.repo.packs import Blob

DATA = Path(__file__).parent / "data"


def cipher() -> Cipher:
    return Cipher(MasterKeys(hashlib.sha256(b"enc").digest(), hashlib.sha256(b"mac").digest()))


def synthetic(count: int, per_pack: int = 64) -> dict[str, list[Blob]]:
    packs: dict[str, list[Blob]] = {}
    for start in range(0, count, per_pack):
        packs[os.urandom(32).hex()] = [Blob(os.urandom(32).hex(), 1000 * i, 900 + i, 5000 + start + i)
                                       for i in range(min(per_pack, count - start))]
    return packs


def put(backend: Backend, c: Cipher, packs: dict[str, list[Blob]]) -> tuple[str, bytes, bytes]:
    index_id, sealed, body = encode_index(c, packs)
    backend.put(index_key(index_id), sealed)
    return index_id, sealed, body


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("STASHBOARD_REPO_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "repo-id"


@pytest.mark.parametrize("piece", [7, 48, 1000, 1 << 18])
@pytest.mark.parametrize("count", [1, 15, 300, 20_000])
def test_a_streamed_index_file_reads_like_the_file_read_whole(
        local_backend: Backend, cache: Path, monkeypatch: pytest.MonkeyPatch, piece: int, count: int) -> None:
    # Pieces smaller than a record, than the tag, and of the default size: records and
    # the tag cut anywhere between pieces.
    monkeypatch.setattr(index_module, "PIECE", piece)
    c = cipher()
    packs = synthetic(count, per_pack=1 + count // 7)
    index_id, _, body = put(local_backend, c, packs)
    index = Index(local_backend, c, "repo-id", "team/repo")
    index.load()
    streamed = index.tables[index_id]
    large = count > MEMORY_MAX  # kept in its cache file; a small one in memory
    assert (cache / index_id).exists() is large and (streamed._body is None) is large
    whole = IndexTable(index_id, body)
    assert list(streamed.fanout) == list(whole.fanout)
    assert list(streamed.entries()) == list(whole.entries())
    where = {b.chunk_id: (p, b.offset, b.length, b.size) for p, blobs in packs.items() for b in blobs}
    for cid, expected in list(where.items())[::max(1, count // 50)]:
        loc = index.lookup(cid)
        assert loc is not None and (loc.pack_id, loc.offset, loc.length, loc.size) == expected
    assert index.lookup(os.urandom(32).hex()) is None
    assert sorted(os.listdir(cache)) == ([index_id] if large else [])  # no temporary file left
    index.close()


@pytest.mark.parametrize("damage", ["flipped", "truncated", "renamed", "not-an-index"])
def test_a_damaged_index_file_is_refused_and_leaves_nothing_in_the_cache(
        local_backend: Backend, cache: Path, damage: str) -> None:
    c = cipher()
    index_id, sealed, _ = encode_index(c, synthetic(5000))
    if damage == "flipped":
        sealed = sealed[:len(sealed) // 2] + bytes([sealed[len(sealed) // 2] ^ 1]) + sealed[len(sealed) // 2 + 1:]
    elif damage == "truncated":
        sealed = sealed[:-5]
    elif damage == "renamed":  # another sound index file under this one's name
        sealed = encode_index(c, synthetic(10))[1]
    else:
        sealed = b"SBX\x00" + sealed[4:]
    local_backend.put(index_key(index_id), sealed)
    index = Index(local_backend, c, "repo-id", "team/repo")
    with pytest.raises(RepositoryError) as e:
        index.load()
    # any damage changes the file's sha256, its name: the whole-object read (where a damaged
    # stream falls back) says so before it decrypts anything
    assert f"index file {index_id[:8]} of repository team/repo does not match its name" in str(e.value)
    assert "run check" in str(e.value)
    assert not cache.exists() or os.listdir(cache) == []


def test_streaming_an_index_file_holds_a_small_part_of_it_in_memory(local_backend: Backend, cache: Path) -> None:
    c = cipher()
    index_id, sealed, body = put(local_backend, c, synthetic(MAX_ENTRIES))
    index = Index(local_backend, c, "repo-id", "team/repo")
    tracemalloc.start()
    try:
        index.load(workers=1)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index) == MAX_ENTRIES
    # Read whole, the sealed file, its plaintext and the cache file's bytes were each held
    # at once (3x its 3 MiB); streamed, a few pieces and 2 bytes a record (~1.1 MB).
    assert peak < len(body) / 2, (peak, len(body))
    index.close()


def test_an_index_file_written_before_the_streaming_still_opens(tmp_path: Path, cache: Path) -> None:
    # Written by the v2 code of 8f23732 (the index encoding is unchanged since), with the
    # keys of cipher(): 3 packs of 7 chunks with ids and places derived from their numbers.
    (golden,) = DATA.glob("index-*")
    index_id = golden.name.removeprefix("index-")
    backend = open_backend("local", root=str(tmp_path / "repo"))
    backend.put(index_key(index_id), golden.read_bytes())
    index = Index(backend, cipher(), "repo-id", "team/repo")
    index.load()
    assert len(index) == 21
    for p in range(3):
        pack_id = hashlib.sha256(b"pack%d" % p).hexdigest()
        for i in range(7):
            loc = index.lookup(hashlib.sha256(b"chunk%d-%d" % (p, i)).hexdigest())
            assert loc is not None
            assert (loc.pack_id, loc.offset, loc.length, loc.size) == (pack_id, 1000 * i, 900 + i, 2000 + i)
    index.close()


def test_a_stream_broken_mid_read_falls_back_to_the_whole_object_read(
        local_backend: Backend, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The network failing mid-stream (urllib3's ProtocolError is no OSError) is no reason
    to call the repository damaged: the whole-object read, which retries, takes over."""
    import io

    from urllib3.exceptions import ProtocolError

    c = cipher()
    packs = synthetic(MEMORY_MAX + 100)
    index_id, sealed, _ = put(local_backend, c, packs)

    class Broken(io.BytesIO):
        def read(self, n: int | None = -1) -> bytes:
            if self.tell() > len(sealed) // 2:
                raise ProtocolError("Connection broken: IncompleteRead")
            return super().read(n)

    opened: list[str] = []

    def open_broken(key: str) -> Broken:
        opened.append(key)
        return Broken(sealed)

    monkeypatch.setattr(local_backend, "open", open_broken)
    index = Index(local_backend, c, "repo-id", "team/repo")
    index.load()
    assert opened == [index_key(index_id)]
    blob = packs[next(iter(packs))][3]
    found = index.lookup(blob.chunk_id)
    assert found is not None and (found.offset, found.length) == (blob.offset, blob.length)


def _merge(backend: Backend, c: Cipher, gone: str, packs: dict[str, list[Blob]]) -> str:
    """What a prune does to one index file: the merged file first, then the old one goes."""
    merged, _, _ = put(backend, c, packs)
    backend.delete(index_key(gone))
    return merged


def test_an_index_file_merged_away_between_the_listing_and_its_read_is_found_in_the_merged_one(
        local_backend: Backend, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A prune between a reader's listing and its read of an index file deletes the file,
    but only after writing the merged one: the load lists again instead of losing them."""
    c = cipher()
    packs = synthetic(200)
    old, _, _ = put(local_backend, c, packs)
    real_list = local_backend.list
    lists = [0]

    def list_then_prune(prefix: str) -> list[str]:
        listed = list(real_list(prefix))
        lists[0] += 1
        if lists[0] == 1:
            _merge(local_backend, c, old, packs)
        return listed

    monkeypatch.setattr(local_backend, "list", list_then_prune)
    index = Index(local_backend, c, "repo-id", "team/repo")
    index.load()
    blob = packs[next(iter(packs))][5]
    assert index.lookup(blob.chunk_id) is not None
    assert lists[0] == 2 and len(index) == 200


def test_a_load_listing_before_another_load_ended_keeps_what_that_one_found(
        local_backend: Backend, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads of one reader reload at once (their fetches found a repacked pack gone).
    The one whose listing is older must not drop the merged index file the other loaded:
    loads run one at a time, each listing after the one before it ended."""
    import threading

    c = cipher()
    packs = synthetic(200)
    old, _, _ = put(local_backend, c, packs)
    real_list = local_backend.list
    in_list, go = threading.Event(), threading.Event()

    def slow_first_list(prefix: str) -> list[str]:
        listed = list(real_list(prefix))
        if threading.current_thread().name == "first" and not in_list.is_set():
            in_list.set()
            go.wait(10)
        return listed

    monkeypatch.setattr(local_backend, "list", slow_first_list)
    index = Index(local_backend, c, "repo-id", "team/repo")
    first = threading.Thread(target=index.load, name="first")
    first.start()
    assert in_list.wait(10)
    _merge(local_backend, c, old, packs)  # the prune, while the first load has listed
    second = threading.Thread(target=index.load, name="second")
    second.start()
    second.join(1.0)  # on the old code it loads the merged file meanwhile
    go.set()
    first.join(10)
    second.join(10)
    blob = packs[next(iter(packs))][5]
    assert index.lookup(blob.chunk_id) is not None
    assert len(index) == 200


def test_a_load_deletes_cache_files_of_merged_index_files_but_not_those_cached_since_its_listing(
        local_backend: Backend, cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Readers share the cache directory. A cache file older than a listing that lacks its
    index file is of a merged-away file and goes; one another reader cached after the
    listing began (of an index file written since) stays."""
    c = cipher()
    gone, _, _ = put(local_backend, c, synthetic(MEMORY_MAX + 10))
    Index(local_backend, c, "repo-id", "team/repo").load()
    os.utime(cache / gone, (1, 1))
    local_backend.delete(index_key(gone))
    real_list = local_backend.list
    fresh: list[str] = []

    def list_then_another_reader_caches(prefix: str) -> list[str]:
        listed = list(real_list(prefix))
        if not fresh:  # written and cached by another process right after this listing
            fresh.append(put(local_backend, c, synthetic(MEMORY_MAX + 10))[0])
            Index(local_backend, c, "repo-id", "team/repo").load()
        return listed

    monkeypatch.setattr(local_backend, "list", list_then_another_reader_caches)
    Index(local_backend, c, "repo-id", "team/repo").load()
    assert sorted(os.listdir(cache)) == fresh
