"""The snapshot writer: chunks streams, uploads new chunks in parallel, commits the manifest last."""
from __future__ import annotations

import secrets
import socket
import threading
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, Self, TypeVar

from .chunking import BackgroundHasher, chunk_stream
from .format import RepositoryError, chunk_key, snapshot_key, utcnow
from .manifest import Manifest, StreamEntry, StreamInfo

if TYPE_CHECKING:
    from .locks import Lock
    from .repository import Repository

T = TypeVar("T")
READ_SIZE = 1 << 20


def iter_source(data: Iterable[bytes] | BinaryIO | bytes) -> Iterator[bytes]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield bytes(data)
        return
    read = getattr(data, "read", None)
    if read is not None:
        while True:
            part = read(READ_SIZE)
            if not part:
                return
            yield part
    else:
        yield from data


class _Upload:
    """One chunk upload that other streams may wait on instead of uploading it again."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


class SnapshotWriter:
    """Use through `Repository.writer()`. Nothing becomes visible until commit()."""

    def __init__(self, repo: Repository, lock: Lock, meta: dict[str, Any] | None, *,
                 workers: int = 4, max_inflight: int | None = None) -> None:
        self.repo = repo
        self.lock = lock
        self.meta = dict(meta or {})
        self.started = utcnow()
        self.streams: dict[str, StreamEntry] = {}
        self._streams_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk-upload")
        # Bounds memory: at most this many chunks are held between chunker and backend.
        self._slots = threading.BoundedSemaphore(max_inflight or workers + 2)
        self._active = 0
        self.committed: str | None = None
        self._closed = False

    # -- streams ---------------------------------------------------------------------------

    def add_stream(self, name: str, data: Iterable[bytes] | BinaryIO | bytes,
                   meta: dict[str, Any] | None = None) -> StreamInfo:
        """Read `data` to its end, store its new chunks, and record the stream. Thread-safe."""
        self._begin(name)
        try:
            return self._add(name, data, meta or {})
        finally:
            with self._streams_lock:
                self._active -= 1

    def _begin(self, name: str) -> None:
        if self._closed:
            raise RepositoryError("this snapshot writer is closed")
        with self._streams_lock:
            if name in self.streams:
                raise RepositoryError(f"stream {name!r} was already added to this snapshot")
            self._active += 1

    def _add(self, name: str, data: Iterable[bytes] | BinaryIO | bytes,
             meta: dict[str, Any]) -> StreamInfo:
        repo = self.repo
        cipher = repo.cipher
        sha = BackgroundHasher()
        results: list[list[Any]] = []  # per chunk: [id, size, new, stored, waited_on]
        errors: list[BaseException] = []
        waits: list[_Upload] = []

        def work(slot: list[Any], chunk: bytes) -> None:
            try:
                cid = cipher.chunk_id(chunk)
                slot[0] = cid
                claimed, upload = repo._claim_chunk(cid)
                if not claimed or upload is None:
                    # Known already, or being uploaded for another stream: wait for that.
                    slot[4] = upload
                    return
                try:
                    sealed = cipher.seal_chunk(cid, chunk)
                    # Retried by the backend within the storage retry budget (storage/retry.py).
                    repo.backend.put(chunk_key(cid), sealed)
                    slot[2], slot[3] = True, len(sealed)
                    repo._chunk_done(cid, upload, None)
                except BaseException as e:
                    repo._chunk_done(cid, upload, e)
                    raise
            except BaseException as e:  # noqa: BLE001 - reported by add_stream
                errors.append(e)
            finally:
                self._slots.release()

        size = 0
        futures = []
        try:
            for chunk in chunk_stream(iter_source(data), **repo.chunker_params):
                if errors:
                    break
                sha.update(chunk)
                size += len(chunk)
                slot: list[Any] = [None, len(chunk), False, 0, None]
                results.append(slot)
                self._slots.acquire()
                futures.append(self._pool.submit(work, slot, chunk))
        finally:
            for f in futures:
                f.result()
            sha.close()
        digest = sha.hexdigest()
        for slot in results:
            if slot[4] is not None:
                waits.append(slot[4])
        for w in waits:
            w.done.wait()
            if w.error is not None:
                errors.append(w.error)
        if errors:
            err = errors[0]
            raise RepositoryError(f"storing stream {name!r} in repository {repo.name} failed: "
                                  f"{err}") from err
        entry = StreamEntry(name=name, size=size, sha256=digest, meta=meta,
                            chunks=[s[0] for s in results], sizes=[s[1] for s in results])
        with self._streams_lock:
            self.streams[name] = entry
        return StreamInfo(name=name, size=size, sha256=entry.sha256,
                          chunks_new=sum(1 for s in results if s[2]),
                          bytes_new=sum(s[1] for s in results if s[2]), reused=False,
                          chunks=len(results), stored_bytes_new=sum(s[3] for s in results))

    def reuse_stream(self, name: str, previous: Manifest | str, meta: dict[str, Any] | None = None,
                     *, source: str | None = None) -> StreamInfo:
        """Reference stream `source` (default: `name`) of an earlier snapshot; upload nothing."""
        self._begin(name)
        try:
            prev = previous if isinstance(previous, Manifest) else self.repo.manifest(previous)
            src = prev.streams.get(source or name)
            if src is None:
                raise RepositoryError(f"snapshot {prev.short_id} has no stream "
                                      f"{source or name!r} to reuse")
            missing = [c for c in src.chunks if not self.repo._has_chunk(c)]
            if missing:
                raise RepositoryError(f"cannot reuse stream {src.name!r} of snapshot "
                                      f"{prev.short_id}: {len(missing)} of its chunks are gone "
                                      f"(pruned?), e.g. {missing[0]}; back it up in full")
            entry = StreamEntry(name=name, size=src.size, sha256=src.sha256,
                                meta=src.meta if meta is None else meta,
                                chunks=list(src.chunks), sizes=list(src.sizes))
            with self._streams_lock:
                self.streams[name] = entry
            return StreamInfo(name=name, size=src.size, sha256=src.sha256, chunks_new=0,
                              bytes_new=0, reused=True, chunks=len(src.chunks))
        finally:
            with self._streams_lock:
                self._active -= 1

    # -- commit ----------------------------------------------------------------------------

    def commit(self, meta: dict[str, Any] | None = None, *, time: Any = None) -> str:
        """Write the manifest (the last object of a snapshot); returns the snapshot id."""
        if self._closed or self.committed:
            raise RepositoryError("this snapshot writer is closed")
        with self._streams_lock:
            if self._active:
                raise RepositoryError("commit() while streams are still being added")
        self.lock.check()
        snapshot_id = secrets.token_hex(32)
        manifest = Manifest(id=snapshot_id, time=time or self.started,
                            meta={**self.meta, **(meta or {})}, streams=dict(self.streams),
                            host=socket.gethostname(), repository_id=self.repo.id)
        sealed = self.repo.cipher.seal_manifest(snapshot_id, manifest.to_doc())
        self.repo.backend.put(snapshot_key(snapshot_id), sealed, if_absent=True)
        self.repo._manifest_cache[snapshot_id] = manifest
        self.committed = snapshot_id
        return snapshot_id

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.lock.release()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
