"""The snapshot writer: chunks streams, uploads new chunks in parallel, commits the manifest last."""
from __future__ import annotations

import logging
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO, Self, TypeVar

from .chunking import BackgroundHasher, chunk_stream
from .format import RepositoryError, chunk_key, snapshot_key, utcnow
from .manifest import Manifest, StreamEntry, StreamInfo
from .packstore import PackStore

if TYPE_CHECKING:
    from .checkpoint import PartialStream, Recorder
    from .locks import Lock
    from .repository import Repository

T = TypeVar("T")
log = logging.getLogger(__name__)
READ_SIZE = 1 << 20
SEGMENT_BYTES = 16 << 20   # a resumable stream is cut and checkpointed this often,
SEGMENT_MIN_BYTES = 256 << 10  # ...or every `checkpoint_every` seconds once it holds this much


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


class _Segments:
    """The pieces of a source, ending at a piece boundary every `limit` bytes, or after
    `seconds` once SEGMENT_MIN_BYTES were taken (limit 0: never); iterate again for the
    next segment until `ended`."""

    def __init__(self, pieces: Iterator[bytes], limit: int, seconds: float) -> None:
        self.pieces, self.limit, self.seconds, self.ended = pieces, limit, seconds, False

    def __iter__(self) -> Iterator[bytes]:
        taken, t0 = 0, time.monotonic()
        for piece in self.pieces:
            yield piece
            taken += len(piece)
            if self.limit and (taken >= self.limit or (
                    taken >= SEGMENT_MIN_BYTES and time.monotonic() - t0 >= self.seconds)):
                return
        self.ended = True


class _Upload:
    """One chunk upload that other streams may wait on instead of uploading it again."""

    __slots__ = ("done", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.error: BaseException | None = None


@dataclass
class _Slot:
    """One chunk of a stream being stored."""
    size: int
    id: str = ""
    new: bool = False                  # uploaded by this stream
    stored: int = 0                    # bytes written to the backend
    waited_on: _Upload | None = None   # another stream's upload of the same chunk


class SnapshotWriter:
    """Use through `Repository.writer()`. Nothing becomes visible until commit()."""

    def __init__(self, repo: Repository, lock: Lock, meta: dict[str, Any] | None, *,
                 workers: int = 4, max_inflight: int | None = None, checkpoint: Recorder | None = None,
                 checkpoint_every: float = 10.0) -> None:
        self.repo = repo
        self.lock = lock
        self.checkpoint = checkpoint
        # a cut waits for the chunks before it to be stored: a short stall, this often at most
        self.checkpoint_every = checkpoint_every
        self.meta = dict(meta or {})
        self.started = utcnow()
        self.streams: dict[str, StreamEntry] = {}
        self._streams_lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chunk-upload")
        # Bounds memory: at most this many chunks are held between chunker and backend.
        self._slots = threading.BoundedSemaphore(max_inflight or workers + 2)
        self._active = 0
        # v2: chunks go into packs; v1: one object per chunk.
        self.packs = PackStore(repo) if repo.version >= 2 else None
        self.committed: str | None = None
        self._closed = False
        if checkpoint is not None and self.packs is not None:
            # v2: a chunk in the open pack is not durable; a checkpoint names only chunks
            # that are uploaded and indexed, so every save persists first.
            checkpoint.before_save = self.persist
            # ...so a pack per stream of a cluster of small indices would be one pack and
            # one index file per index: finished streams are written this often at most.
            checkpoint.interval = max(checkpoint.interval, checkpoint_every)

    # -- streams ---------------------------------------------------------------------------

    def add_stream(self, name: str, data: Iterable[bytes] | BinaryIO | bytes,
                   meta: dict[str, Any] | None = None, *, resume: PartialStream | None = None,
                   position: Callable[[], dict[str, Any]] | None = None) -> StreamInfo:
        """Read `data` to its end, store its new chunks, and record the stream. Thread-safe.

        With a checkpoint and `position`, the stream is cut at a piece boundary every
        SEGMENT_BYTES or `checkpoint_every` seconds; once a cut's chunks are stored, the prefix and `position()` (called while
        the source is suspended just after its last piece) go to the checkpoint. `resume`
        is such a prefix: `data` then continues after it (see storage/repo/checkpoint.py)."""
        self._begin(name)
        if self.checkpoint is not None:
            # v1: at every stream's start; v2: once `interval` has passed (see __init__)
            self.checkpoint.flush(force=self.packs is None)
        try:
            return self._add(name, data, meta or {}, resume, position if self.checkpoint else None)
        except BaseException:
            if resume is not None and self.checkpoint is not None:
                # a resumed stream that fails (a count mismatch, say) starts afresh next time
                self.checkpoint.forget(name)
            raise
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

    def _add(self, name: str, data: Iterable[bytes] | BinaryIO | bytes, meta: dict[str, Any],
             resume: PartialStream | None, position: Callable[[], dict[str, Any]] | None) -> StreamInfo:
        sha = BackgroundHasher()
        slots: list[_Slot] = []
        errors: list[BaseException] = []
        futures = []
        source = _Segments(iter_source(data), SEGMENT_BYTES if position else 0, self.checkpoint_every)
        store = self._store if self.packs is None else self._store_packed
        try:
            if resume is not None:
                slots = self._resume_prefix(resume.entry, sha)
            while not source.ended:
                for chunk in chunk_stream(source, **self.repo.chunker_params):
                    if errors:
                        break
                    sha.update(chunk)
                    slot = _Slot(size=len(chunk))
                    slots.append(slot)
                    self._slots.acquire()
                    futures.append(self._pool.submit(store, slot, chunk, errors))
                if errors:
                    break
                if position is not None and not source.ended:
                    self._durable(name, meta, slots, futures, errors, position)
        finally:
            for f in futures:
                f.result()
            sha.close()
        self._wait_others(slots, errors)
        if errors:
            raise RepositoryError(f"storing stream {name!r} in repository {self.repo.name} failed: "
                                  f"{errors[0]}") from errors[0]
        size = sum(s.size for s in slots)
        entry = StreamEntry(name=name, size=size, sha256=sha.hexdigest(), meta=meta,
                            chunks=[s.id for s in slots], sizes=[s.size for s in slots])
        with self._streams_lock:
            self.streams[name] = entry
        if self.checkpoint is not None:
            self.checkpoint.stream_done(entry)
        return StreamInfo(name=name, size=size, sha256=entry.sha256,
                          chunks_new=sum(1 for s in slots if s.new),
                          bytes_new=sum(s.size for s in slots if s.new), reused=False,
                          chunks=len(slots), stored_bytes_new=sum(s.stored for s in slots))

    @staticmethod
    def _wait_others(slots: list[_Slot], errors: list[BaseException]) -> None:
        for slot in slots:
            if slot.waited_on is not None:
                slot.waited_on.done.wait()
                if slot.waited_on.error is not None:
                    errors.append(slot.waited_on.error)

    def _durable(self, name: str, meta: dict[str, Any], slots: list[_Slot], futures: list[Any],
                 errors: list[BaseException], position: Callable[[], dict[str, Any]]) -> None:
        """At a cut: once every chunk so far is stored, checkpoint the prefix and the position
        (v2: the recorder persists the writer first, so the prefix is in indexed packs)."""
        for f in futures:
            f.result()
        self._wait_others(slots, errors)
        if errors or self.checkpoint is None:
            return
        prefix = StreamEntry(name=name, size=sum(s.size for s in slots), sha256="", meta=meta,
                             chunks=[s.id for s in slots], sizes=[s.size for s in slots])
        self.checkpoint.partial(prefix, position())

    def _resume_prefix(self, prefix: StreamEntry, sha: BackgroundHasher) -> list[_Slot]:
        """The slots of a checkpointed prefix, each chunk read back: the stream's sha256
        covers the prefix, and a prefix chunk that is gone or damaged fails the stream here."""
        from .reader import fetch_chunk

        slots = []
        for cid, size in zip(prefix.chunks, prefix.sizes, strict=True):
            data = fetch_chunk(self.repo, cid, stream=prefix.name)
            if len(data) != size:
                raise RepositoryError(f"checkpointed chunk {cid} of stream {prefix.name!r} has {len(data)} bytes, "
                                      f"not {size}")
            sha.update(data)
            slots.append(_Slot(size=size, id=cid))
        return slots

    def _store(self, slot: _Slot, chunk: bytes, errors: list[BaseException]) -> None:
        """Upload one chunk unless the repository has it or another stream is uploading it
        (then `slot.waited_on` is that upload); a pool thread."""
        repo = self.repo
        try:
            slot.id = repo.cipher.chunk_id(chunk)
            claimed, upload = repo._claim_chunk(slot.id)
            if not claimed or upload is None:
                # Known already, or being uploaded for another stream: wait for that.
                slot.waited_on = upload
                return
            try:
                sealed = repo.cipher.seal_chunk(slot.id, chunk)
                # Retried by the backend within the storage retry budget (storage/retry.py).
                repo.backend.put(chunk_key(slot.id), sealed)
                slot.new, slot.stored = True, len(sealed)
                repo._chunk_done(slot.id, upload, None)
            except BaseException as e:
                repo._chunk_done(slot.id, upload, e)
                raise
        except BaseException as e:  # noqa: BLE001 - reported by add_stream
            errors.append(e)
        finally:
            self._slots.release()

    def _store_packed(self, slot: _Slot, chunk: bytes, errors: list[BaseException]) -> None:
        """v2: append the chunk to this writer's open pack unless it is indexed or already
        claimed by another stream of this writer (the pack is uploaded by commit at the latest)."""
        repo = self.repo
        assert self.packs is not None
        try:
            slot.id = repo.cipher.chunk_id(chunk)
            if self.packs.claim(slot.id):
                try:
                    sealed = repo.cipher.seal_chunk(slot.id, chunk)
                except BaseException:
                    self.packs.unclaim(slot.id)
                    raise
                self.packs.add(slot.id, sealed, len(chunk))
                slot.new, slot.stored = True, len(sealed)
        except BaseException as e:  # noqa: BLE001 - reported by add_stream
            errors.append(e)
        finally:
            self._slots.release()

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
            if self.checkpoint is not None:
                self.checkpoint.stream_done(entry)
            return StreamInfo(name=name, size=src.size, sha256=src.sha256, chunks_new=0,
                              bytes_new=0, reused=True, chunks=len(src.chunks))
        finally:
            with self._streams_lock:
                self._active -= 1

    def forget_stream(self, name: str) -> None:
        """Leave a stream added earlier out of the snapshot (its chunks stay until prune)."""
        with self._streams_lock:
            self.streams.pop(name, None)
        if self.checkpoint is not None:
            self.checkpoint.forget_done(name)

    # -- commit ----------------------------------------------------------------------------

    def persist(self) -> None:
        """Make every chunk stored so far durable and findable: v2 uploads the open pack
        and writes the index files of the packs uploaded since the last persist (v1 stores
        each chunk as it goes). A checkpoint may then name these chunks (by chunk id only:
        prune may move a chunk to another pack, the index says where it is)."""
        if self.packs is None:
            return
        # Half a TTL: prune deletes packs no index lists once our lock looks stale, so an
        # index must not be written by a writer whose lock may have expired meanwhile.
        def lock_held() -> None:
            self.lock.check(within=self.lock.ttl / 2)

        try:
            self.packs.flush(before_index=lock_held)
        except RepositoryError:
            raise
        except Exception as e:
            raise RepositoryError(f"storing the packs of a snapshot in repository "
                                  f"{self.repo.name} failed: {e}") from e

    def commit(self, meta: dict[str, Any] | None = None, *, time: Any = None) -> str:
        """Write the manifest (the last object of a snapshot); returns the snapshot id."""
        if self._closed or self.committed:
            raise RepositoryError("this snapshot writer is closed")
        with self._streams_lock:
            if self._active:
                raise RepositoryError("commit() while streams are still being added")
        self.lock.check()
        self.persist()
        snapshot_id = secrets.token_hex(32)
        manifest = Manifest(id=snapshot_id, time=time or self.started,
                            meta={**self.meta, **(meta or {})}, streams=dict(self.streams),
                            host=socket.gethostname(), repository_id=self.repo.id)
        sealed = self.repo.cipher.seal_manifest(snapshot_id, manifest.to_doc())
        self.repo.backend.put(snapshot_key(snapshot_id), sealed, if_absent=True)
        self.repo._manifest_cache[snapshot_id] = manifest
        self.committed = snapshot_id
        if self.checkpoint is not None:
            self._drop_checkpoints(manifest)
        return snapshot_id

    def _drop_checkpoints(self, manifest: Manifest) -> None:
        """A committed snapshot ends its configuration's checkpoints; a Failed one keeps
        this run's (the next run resumes from it: retention never reuses a Failed snapshot)."""
        from .checkpoint import delete_checkpoints

        assert self.checkpoint is not None
        keep = self.checkpoint.checkpoint.id if manifest.status == "Failed" else ""
        if keep:
            self.checkpoint.flush()
        else:
            self.checkpoint.delete()
        delete_checkpoints(self.repo, self.checkpoint.checkpoint.key, keep=keep)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._pool.shutdown(wait=True, cancel_futures=True)
        try:
            if self.checkpoint is not None and not self.committed:
                self._flush_checkpoint()  # left without commit: what was stored stays resumable
        finally:
            if self.packs is not None:
                self.packs.close()
            self.lock.release()

    def _flush_checkpoint(self) -> None:
        assert self.checkpoint is not None
        try:
            self.checkpoint.flush()
        except Exception as e:  # noqa: BLE001 - closing after a failure must not hide it
            log.warning("checkpoint of repository %s not saved on close (the next run reads "
                        "more again): %s", self.repo.name, e)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
