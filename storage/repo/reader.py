"""Reading a stream back: parallel fetch-ahead, every chunk verified, sha256 checked at the end."""
from __future__ import annotations

import collections
import sys
from array import array
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from .chunking import BackgroundHasher
from .crypto import DecryptError
from .format import CorruptChunk, RepositoryError

# A stream's read-ahead: plaintext bytes of the chunks fetched beyond the one being handed
# on (with 1 MiB chunks on average, about `window` of them; fewer when chunks are large).
READ_AHEAD_BYTES = 8 << 20

if TYPE_CHECKING:
    from .manifest import Manifest, StreamEntry
    from .repository import Repository


def fetch_chunk(repo: Repository, chunk_id: str, *, snapshot_id: str = "",
                stream: str = "") -> bytes:
    from storage.backends import NotFound

    where = f" (snapshot {snapshot_id[:8]}, stream {stream!r})" if snapshot_id else ""
    try:
        sealed = repo.sealed_chunk(chunk_id)
    except NotFound:
        raise CorruptChunk(f"chunk {chunk_id} is missing from repository {repo.name}{where}",
                           chunk_id=chunk_id, snapshot_id=snapshot_id, stream=stream) from None
    try:
        return repo.cipher.open_chunk(chunk_id, sealed)
    except DecryptError as e:
        raise CorruptChunk(f"chunk {chunk_id} in repository {repo.name} is corrupt: {e}{where}",
                           chunk_id=chunk_id, snapshot_id=snapshot_id, stream=stream) from None
    except Exception as e:  # noqa: BLE001 - e.g. a zstd frame error after a valid tag
        raise CorruptChunk(f"chunk {chunk_id} in repository {repo.name} cannot be decoded: "
                           f"{e}{where}", chunk_id=chunk_id, snapshot_id=snapshot_id,
                           stream=stream) from None


def _entry(manifest: Manifest, name: str) -> StreamEntry:
    entry = manifest.streams.get(name)
    if entry is None:
        raise RepositoryError(f"snapshot {manifest.short_id} has no stream {name!r} "
                              f"(it has: {', '.join(sorted(manifest.streams)) or 'none'})")
    return entry


def read_stream(repo: Repository, manifest: Manifest, name: str, *, workers: int = 4,
                window: int = 8) -> Iterator[bytes]:
    """Yield the stream's bytes in order; holds at most `window` chunks in memory.

    A composed stream (meta `composed`: an incremental dump's index) yields the lines of
    its layers, oldest first, each without its dead lines (docs/repository-format.md)."""
    entry = _entry(manifest, name)
    composed = entry.meta.get("composed")
    if not composed:
        yield from _read_plain(repo, manifest, entry, workers=workers, window=window)
    else:
        yield from _read_composed(repo, manifest, composed, workers=workers, window=window)


def _read_composed(repo: Repository, manifest: Manifest, composed: dict[str, Any], *, workers: int,
                   window: int) -> Iterator[bytes]:
    dead_of = composed.get("dead") or {}
    for layer in composed["layers"]:
        dead = array("I")
        if dead_of.get(layer):
            for part in _read_plain(repo, manifest, _entry(manifest, dead_of[layer]), workers=workers, window=window):
                dead.frombytes(part)
            if sys.byteorder == "little":
                dead.byteswap()   # stored big-endian
        yield from live_lines(_read_plain(repo, manifest, _entry(manifest, layer), workers=workers, window=window),
                              dead)


def live_lines(parts: Iterator[bytes], dead: array[int]) -> Iterator[bytes]:
    """The lines of `parts` (each ending with a newline) but those numbered in `dead`
    (sorted, from 0); a part without a dead line passes whole."""
    line, d, tail = 0, 0, b""
    for part in parts:
        buf = tail + part if tail else part
        end = buf.rfind(b"\n") + 1
        n = buf.count(b"\n", 0, end)
        tail = buf[end:]
        if d >= len(dead) or dead[d] >= line + n:
            line += n
            if end:
                yield buf[:end]
            continue
        out, pos = [], 0
        for _ in range(n):
            nl = buf.index(b"\n", pos) + 1
            if d < len(dead) and dead[d] == line:
                d += 1
            else:
                out.append(buf[pos:nl])
            pos, line = nl, line + 1
        yield b"".join(out)
    if tail and not (d < len(dead) and dead[d] == line):
        yield tail


def _read_plain(repo: Repository, manifest: Manifest, entry: StreamEntry, *, workers: int,
                window: int) -> Iterator[bytes]:
    name = entry.name
    sha = BackgroundHasher()
    pending: collections.deque[tuple[int, Future[bytes]]] = collections.deque()
    chunks = collections.deque(zip(entry.chunks, entry.sizes, strict=True))
    ahead = 0  # plaintext bytes fetched or being fetched, not yet yielded
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk-read")
    try:
        def fill() -> None:
            # at most `window` chunks and, beyond the first, READ_AHEAD_BYTES of them
            nonlocal ahead
            while chunks and len(pending) < window and (not pending or ahead + chunks[0][1] <= READ_AHEAD_BYTES):
                cid, size = chunks.popleft()
                ahead += size
                pending.append((size, pool.submit(fetch_chunk, repo, cid, snapshot_id=manifest.id,
                                                  stream=name)))

        fill()
        while pending:
            size, future = pending.popleft()
            data = future.result()
            ahead -= size
            fill()
            sha.update(data)
            yield data
        if sha.hexdigest() != entry.sha256:
            raise CorruptChunk(f"stream {name!r} of snapshot {manifest.short_id} does not match "
                               f"its recorded sha256", snapshot_id=manifest.id, stream=name)
    finally:
        # No join here: when a consumer drops the stream half read (a failed restore), the
        # garbage collector may run this inside another thread's start, where joining
        # threads deadlocks on threading's own locks (a CI run hung so). Fetches already
        # under way finish on their own and their threads exit.
        sha.abandon()
        for _, f in pending:
            f.cancel()
        pool.shutdown(wait=False, cancel_futures=True)
