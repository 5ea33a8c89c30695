"""Reading a stream back: parallel fetch-ahead, every chunk verified, sha256 checked at the end."""
from __future__ import annotations

import collections
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from .chunking import BackgroundHasher
from .crypto import DecryptError
from .format import CorruptChunk, RepositoryError

if TYPE_CHECKING:
    from .manifest import Manifest
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


def read_stream(repo: Repository, manifest: Manifest, name: str, *, workers: int = 4,
                window: int = 8) -> Iterator[bytes]:
    """Yield the stream's bytes in order; holds at most `window` chunks in memory."""
    entry = manifest.streams.get(name)
    if entry is None:
        raise RepositoryError(f"snapshot {manifest.short_id} has no stream {name!r} "
                              f"(it has: {', '.join(sorted(manifest.streams)) or 'none'})")
    sha = BackgroundHasher()
    pending: collections.deque[Future[bytes]] = collections.deque()
    ids = iter(entry.chunks)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk-read")
    try:
        def fill() -> None:
            while len(pending) < window:
                cid = next(ids, None)
                if cid is None:
                    return
                pending.append(pool.submit(fetch_chunk, repo, cid, snapshot_id=manifest.id,
                                           stream=name))

        fill()
        while pending:
            data = pending.popleft().result()
            fill()
            sha.update(data)
            yield data
        if sha.hexdigest() != entry.sha256:
            raise CorruptChunk(f"stream {name!r} of snapshot {manifest.short_id} does not match "
                               f"its recorded sha256", snapshot_id=manifest.id, stream=name)
    finally:
        sha.close()
        for f in pending:
            f.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
