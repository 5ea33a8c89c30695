"""The v2 index: which pack holds each chunk, at what offset.

Index files (index/<sha256 of the object>) are written by each backup for the packs it
uploaded and merged by prune; each lists whole packs, at most MAX_ENTRIES chunks, its
records sorted by chunk id. Opening reads them all, so no writer lists packs/.

In memory a table is compact: its records stay one `bytes` (small tables) or a file of
the local cache read with pread (large ones), and only a fan-out array of record
positions by the ids' leading bits is held in Python objects (a quarter of a byte per
chunk). A lookup reads the few dozen records of one fan-out bucket per table.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import struct
import threading
import time
from array import array
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from .format import INDEX_MAGIC, INDEX_PREFIX, NONCE_SIZE, RepositoryError, index_key

if TYPE_CHECKING:
    from storage.backends import Backend

    from .crypto import Cipher
    from .packs import Blob

# chunk id, pack ordinal (into the file's pack list), offset, length, plaintext size
RECORD = struct.Struct("<32sIIII")
HEAD = struct.Struct("<II")  # pack count, record count
MAX_ENTRIES = 65536          # per index file: ~3 MiB decrypted, so loading one is cheap
MEMORY_MAX = 8192            # tables above this many records live in the disk cache
CACHE_MAGIC = b"SBX\x01"
WINDOW_LOG = 17              # 128 KiB zstd window: a streamed index file costs that per fetch
ID = 32
CACHE_SLACK = 2.0            # seconds: a cache file this much older than a listing predates it


@dataclass(frozen=True)
class Location:
    pack_id: str
    offset: int
    length: int
    size: int


def encode_index(cipher: Cipher, packs: dict[str, list[Blob]]) -> tuple[str, bytes, bytes]:
    """(index id, the sealed object, its plaintext body) for these packs' blobs."""
    pack_ids = sorted(packs)
    records = sorted(RECORD.pack(bytes.fromhex(b.chunk_id), n, b.offset, b.length, b.size)
                     for n, pid in enumerate(pack_ids) for b in packs[pid])
    body = b"".join([HEAD.pack(len(pack_ids), len(records)),
                     *(bytes.fromhex(p) for p in pack_ids), *records])
    sealed = INDEX_MAGIC + cipher.seal(INDEX_MAGIC, cipher.compress(body, window_log=WINDOW_LOG))
    return hashlib.sha256(sealed).hexdigest(), sealed, body


def split_packs(packs: dict[str, list[Blob]]) -> Iterator[dict[str, list[Blob]]]:
    """Whole packs in groups of at most MAX_ENTRIES blobs: one index file each."""
    group: dict[str, list[Blob]] = {}
    count = 0
    for pid in sorted(packs):
        if group and count + len(packs[pid]) > MAX_ENTRIES:
            yield group
            group, count = {}, 0
        group[pid] = packs[pid]
        count += len(packs[pid])
    if group:
        yield group


def decode_index(cipher: Cipher, sealed: bytes, what: str) -> bytes:
    if sealed[:4] != INDEX_MAGIC:
        raise ValueError(f"{what} is not an index file (bad magic)")
    body = cipher.decompress(cipher.open(INDEX_MAGIC, sealed[4:], what))
    npacks, count = HEAD.unpack_from(body)
    if len(body) != HEAD.size + ID * npacks + RECORD.size * count:
        raise ValueError(f"{what}: {len(body)} bytes for {npacks} packs and {count} records")
    return body


def _firsts(keys: bytes, values: int, start: int, end: int) -> list[int]:
    """For sorted one-byte keys: the first position of a key >= v, for v in 0..values
    (the last entry is `end`); positions are offset by `start`. bytes.find does the scans."""
    out = [end] * (values + 1)
    for v in range(values - 1, -1, -1):
        found = keys.find(v.to_bytes(1, "big"))
        out[v] = start + found if found >= 0 else out[v + 1]
    return out


def _bits(count: int) -> int:
    """Fan-out bits for a table of `count` records: 32 to 64 records a bucket, so a lookup
    preads 1.5-3 KiB of a table and its fan-out costs 0.25 byte a record (16 KiB for a full
    file: 2.5 MB of memory for 10,000,000 chunks); fewer buckets also halve the fan-out's
    cost on a cold open."""
    return max(0, min(16, (max(count, 1) // 64).bit_length()))


def _fanout(first: bytes, second: bytes, count: int, bits: int) -> array[int]:
    """fanout[b] = the first record whose id's leading `bits` bits are >= b (and a last
    entry = count), from the ids' first and second bytes (one byte a record, in record
    order), searched with bytes.find (C loops): opening a large index must not cost Python
    work per record."""
    if bits <= 8:
        shift = bytes(x >> (8 - bits) for x in range(256))
        return array("I", _firsts(first.translate(shift), 1 << bits, 0, count))
    low_bits = bits - 8
    second = second.translate(bytes(x >> (8 - low_bits) for x in range(256)))
    tops = _firsts(first, 256, 0, count)
    out = array("I")
    for top in range(256):
        lo, hi = tops[top], tops[top + 1]
        out.extend(_firsts(second[lo:hi], 1 << low_bits, lo, hi)[:-1])
    out.append(count)
    return out


def _body_fanout(body: bytes, base: int, count: int, bits: int) -> array[int]:
    end = base + count * RECORD.size
    return _fanout(body[base:end:RECORD.size], body[base + 1:end:RECORD.size], count, bits)


class IndexTable:
    """One index file's records: in memory or in a cache file, with a fan-out array."""

    def __init__(self, index_id: str, body: bytes, cache: Path | None = None) -> None:
        self.id = index_id
        self.packs_n, self.count = HEAD.unpack_from(body)
        self._packs_at = HEAD.size
        self._base = HEAD.size + ID * self.packs_n
        self.bits = _bits(self.count)
        self.fanout = _body_fanout(body, self._base, self.count, self.bits)
        self._body: bytes | None = body
        self._fd: int | None = None
        if cache is not None and self.count > MEMORY_MAX:
            self._fd = _write_cache(cache, self.fanout, self.bits, body)
            self._data_at = 8 + 4 * len(self.fanout)
            self._body = None

    @classmethod
    def from_cache(cls, index_id: str, path: Path) -> IndexTable:
        fd = os.open(path, os.O_RDONLY)
        try:
            head = os.pread(fd, 8 + HEAD.size, 0)
            if head[:4] != CACHE_MAGIC:
                raise ValueError(f"{path} is not an index cache file")
            bits = struct.unpack_from("<I", head, 4)[0]
            fanout = array("I")
            fanout.frombytes(os.pread(fd, 4 * ((1 << bits) + 1), 8))
        except BaseException:
            os.close(fd)
            raise
        self = cls.__new__(cls)
        self.id, self.bits, self.fanout, self._fd, self._body = index_id, bits, fanout, fd, None
        self._data_at = 8 + 4 * len(fanout)
        self.packs_n, self.count = HEAD.unpack(os.pread(fd, HEAD.size, self._data_at))
        self._packs_at = HEAD.size
        self._base = HEAD.size + ID * self.packs_n
        return self

    def _read(self, start: int, length: int) -> bytes:
        if self._body is not None:
            return self._body[start:start + length]
        assert self._fd is not None
        return os.pread(self._fd, length, self._data_at + start)

    def _pack(self, n: int) -> str:
        return self._read(self._packs_at + ID * n, ID).hex()

    def lookup(self, raw: bytes) -> Location | None:
        bucket = int.from_bytes(raw[:4], "big") >> (32 - self.bits) if self.bits else 0
        lo, hi = self.fanout[bucket], self.fanout[bucket + 1]
        if lo == hi:
            return None
        records = self._read(self._base + lo * RECORD.size, (hi - lo) * RECORD.size)
        i = records.find(raw)
        while i >= 0 and i % RECORD.size:  # a match across two records is not one
            i = records.find(raw, i + 1)
        if i < 0:
            return None
        _, n, offset, length, size = RECORD.unpack_from(records, i)
        return Location(self._pack(n), offset, length, size)

    def entries(self) -> Iterator[tuple[str, Location]]:
        """Every (chunk id, location), in chunk id order."""
        packs = [self._pack(n) for n in range(self.packs_n)]
        step = 4096
        for start in range(0, self.count, step):
            records = self._read(self._base + start * RECORD.size,
                                 min(step, self.count - start) * RECORD.size)
            for raw, n, offset, length, size in RECORD.iter_unpack(records):
                yield raw.hex(), Location(packs[n], offset, length, size)

    def pack_ids(self) -> list[str]:
        return [self._pack(n) for n in range(self.packs_n)]

    def close(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


def _write_cache(path: Path, fanout: array[int], bits: int, body: bytes) -> int:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
    with open(tmp, "wb") as f:
        f.write(CACHE_MAGIC + struct.pack("<I", bits) + fanout.tobytes() + body)
    os.replace(tmp, path)
    return os.open(path, os.O_RDONLY)


PIECE = 1 << 16  # bytes read at a time when an index file is streamed into the cache
TAG = 16         # AES-GCM's tag, the sealed file's last bytes


class _CacheFill:
    """Plaintext of one index file written into a temporary cache file as it comes, with
    each record's first two id bytes kept aside for the fan-out (2 bytes a record); put in
    place by commit() only once the caller has authenticated the whole (a table of at most
    MEMORY_MAX records is read back into memory instead: no file, no descriptor)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}")
        self.file = open(self.tmp, "w+b")  # noqa: SIM115 - closed by commit() or discard()
        self.head = b""
        self.size = 0  # plaintext bytes received
        self.bits = self.count = self.packs_n = -1
        self.taps: tuple[list[bytes], list[bytes]] = ([], [])
        self.next_at = [0, 0]  # body offset of the next record's id byte 0 / byte 1

    def feed(self, plain: bytes) -> None:
        if self.bits < 0:
            self.head += plain
            if len(self.head) < HEAD.size:
                return
            plain, self.head = self.head, b""
            self.packs_n, self.count = HEAD.unpack_from(plain)
            self.bits = _bits(self.count)
            # the fan-out's place, written by commit()
            self.file.write(bytes(8 + 4 * ((1 << self.bits) + 1)))
            base = HEAD.size + ID * self.packs_n
            self.next_at = [base, base + 1]
        at, end = self.size, self.size + len(plain)
        self.file.write(plain)
        self.size = end
        for k in (0, 1):
            if self.next_at[k] < end:
                taken = plain[self.next_at[k] - at::RECORD.size]
                self.taps[k].append(taken)
                self.next_at[k] += RECORD.size * len(taken)

    def commit(self, index_id: str, what: str) -> IndexTable:
        expected = HEAD.size + ID * self.packs_n + RECORD.size * self.count
        if self.bits < 0 or self.size != expected:
            raise ValueError(f"{what}: {self.size} bytes for {self.packs_n} packs and "
                             f"{self.count} records")
        if self.count <= MEMORY_MAX:  # a small table stays in memory, as add_body keeps it
            self.file.seek(8 + 4 * ((1 << self.bits) + 1))
            body = self.file.read()
            self.discard()
            return IndexTable(index_id, body)
        first, second = (b"".join(t)[:self.count] for t in self.taps)
        fanout = _fanout(first, second, self.count, self.bits)
        self.file.seek(0)
        self.file.write(CACHE_MAGIC + struct.pack("<I", self.bits) + fanout.tobytes())
        self.file.close()
        os.replace(self.tmp, self.path)
        return IndexTable.from_cache(index_id, self.path)

    def discard(self) -> None:
        self.file.close()
        with contextlib.suppress(OSError):
            self.tmp.unlink()


def stream_table(cipher: Cipher, src: BinaryIO, index_id: str, path: Path, what: str) -> IndexTable:
    """One sealed index file read from `src` into its cache file `path` piece by piece
    (sha256, AES-GCM and zstd on pieces: a fetch costs about a megabyte whatever the
    file's size), then opened from there. The cache file is put in place only after the
    tag and the sha256 (the file's name) have been checked."""
    lead = src.read(len(INDEX_MAGIC) + NONCE_SIZE)
    if lead[:len(INDEX_MAGIC)] != INDEX_MAGIC or len(lead) != len(INDEX_MAGIC) + NONCE_SIZE:
        raise ValueError(f"{what} is not an index file (bad magic)")
    sha = hashlib.sha256(lead)
    opener = cipher.open_stream(INDEX_MAGIC, lead[len(INDEX_MAGIC):], what)
    inflate = cipher.decompressobj()
    fill = _CacheFill(path)
    try:
        held = b""  # the last TAG bytes read: the tag once the file ends
        while piece := src.read(PIECE):
            sha.update(piece)
            if len(piece) < TAG:
                piece, held = held + piece, b""
            fill.feed(inflate.decompress(opener.update(held) + opener.update(memoryview(piece)[:-TAG])))
            held = piece[-TAG:]
        if len(held) != TAG:
            raise ValueError(f"{what} is truncated")
        opener.finish(held)
        if sha.hexdigest() != index_id:
            raise ValueError(f"index file {index_id[:8]} does not match its name")
        if not inflate.eof:
            raise ValueError(f"{what}: compressed body is truncated")
        return fill.commit(index_id, what)
    except BaseException:
        fill.discard()
        raise


def cache_root() -> Path | None:
    """Where decrypted index files are cached (STASHBOARD_REPO_CACHE; "off" for none)."""
    configured = os.environ.get("STASHBOARD_REPO_CACHE", "")
    if configured == "off":
        return None
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "stashboard" / "repo-index"


class Index:
    """Every index file of a repository, refreshed by load(). Thread-safe."""

    def __init__(self, backend: Backend, cipher: Cipher, repo_id: str, name: str) -> None:
        self.backend, self.cipher, self.name = backend, cipher, name
        root = cache_root()
        self.cache = root / repo_id if root is not None else None
        self.tables: dict[str, IndexTable] = {}
        self._lock = threading.Lock()
        self._load_lock = threading.Lock()
        self.loaded = False

    def load(self, *, workers: int = 8, rounds: int = 8) -> None:
        """Read the index files listed now; drop those deleted (merged by a prune).

        Loads run one at a time, each listing after the one before it ended: a listing
        older than the tables already loaded would drop a merged index file and keep none.
        An index file deleted between the listing and its read was merged by a prune,
        which writes the merged file before deleting: listing again finds it."""
        with self._load_lock:
            for _ in range(rounds):
                listed_at = time.time()
                listed = {k[len(INDEX_PREFIX):] for k in self.backend.list(INDEX_PREFIX)}
                with self._lock:
                    for gone in self.tables.keys() - listed:
                        self.tables.pop(gone).close()
                    wanted = sorted(listed - self.tables.keys())
                self._drop_cached(listed, listed_at)
                with ThreadPoolExecutor(max_workers=workers) as pool:
                    tables = list(pool.map(self._table, wanted))
                with self._lock:
                    for t in tables:
                        if t is not None:
                            self.tables[t.id] = t
                if None not in tables:
                    break
            self.loaded = True

    def _drop_cached(self, listed: set[str], listed_at: float) -> None:
        """Cache files of index files merged away by a prune are deleted. Only files older
        than the listing: another process may have cached an index file written since."""
        if self.cache is None or not self.cache.is_dir():
            return
        for path in self.cache.iterdir():
            if path.name in listed or path.name.startswith("."):
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < listed_at - CACHE_SLACK:
                    path.unlink()

    def _table(self, index_id: str) -> IndexTable | None:
        from storage.backends import NotFound

        cached = self.cache / index_id if self.cache is not None else None
        if cached is not None and cached.exists():
            with contextlib.suppress(OSError, ValueError, struct.error):
                return IndexTable.from_cache(index_id, cached)
        what = f"index file {index_id[:8]}"
        try:
            if cached is not None:
                try:
                    with self.backend.open(index_key(index_id)) as src:
                        return stream_table(self.cipher, src, index_id, cached, what)
                except Exception:  # noqa: BLE001, S110 - see below
                    # Any failed stream (the network mid-read, an unwritable cache, a
                    # damaged file) falls through to the whole-object read: it retries
                    # what is transient, and says what is wrong with a damaged file.
                    pass
            sealed = self.backend.get(index_key(index_id))
        except NotFound:
            return None  # merged and deleted by a prune since the listing
        except Exception as e:
            raise RepositoryError(f"{what} of repository {self.name} is unreadable: {e}; "
                                  f"run check") from e
        if hashlib.sha256(sealed).hexdigest() != index_id:
            raise RepositoryError(f"{what} of repository {self.name} does not match its name; "
                                  f"run check")
        try:
            body = decode_index(self.cipher, sealed, what)
        except Exception as e:
            raise RepositoryError(f"{what} of repository {self.name} is unreadable: {e}; "
                                  f"run check") from e
        return self.add_body(index_id, body)

    def add_body(self, index_id: str, body: bytes) -> IndexTable:
        """Register an index file this process has just written (or read)."""
        try:
            table = IndexTable(index_id, body, self.cache / index_id if self.cache else None)
        except OSError:
            table = IndexTable(index_id, body)  # no writable cache: keep it in memory
        with self._lock:
            old = self.tables.pop(index_id, None)
            self.tables[index_id] = table
        if old is not None:
            old.close()
        return table

    def lookup(self, chunk_id: str) -> Location | None:
        try:
            raw = bytes.fromhex(chunk_id)
        except ValueError:
            return None
        with self._lock:
            tables = list(self.tables.values())
        for t in tables:
            loc = t.lookup(raw)
            if loc is not None:
                return loc
        return None

    def __contains__(self, chunk_id: object) -> bool:
        return isinstance(chunk_id, str) and self.lookup(chunk_id) is not None

    def __len__(self) -> int:
        return sum(t.count for t in list(self.tables.values()))

    def entries(self) -> Iterator[tuple[str, Location]]:
        for t in list(self.tables.values()):
            yield from t.entries()

    def pack_ids(self) -> set[str]:
        return {p for t in list(self.tables.values()) for p in t.pack_ids()}

    def forget_tables(self, ids: Iterable[str]) -> None:
        with self._lock:
            for i in ids:
                t = self.tables.pop(i, None)
                if t is not None:
                    t.close()

    def close(self) -> None:
        self.forget_tables(list(self.tables))
