"""A v2 writer's packs: sealed chunks are appended to the open pack; a full pack is
uploaded by a small pool (at most `inflight` packs between the sealers and the backend);
flush() uploads the last pack and writes the index files of every pack uploaded."""
from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING

from .format import index_key, pack_key
from .index import encode_index, split_packs
from .packs import Blob, PackBuilder

if TYPE_CHECKING:
    from .repository import Repository


class PackStore:
    def __init__(self, repo: Repository, *, workers: int = 2) -> None:
        self.repo = repo
        self.target = repo.pack_target
        self._lock = threading.Lock()
        self._open = PackBuilder()
        self._claimed: set[bytes] = set()  # chunk ids this writer stores (raw, 32 bytes)
        self._pending: set[bytes] = set()  # claimed, not yet in a pack
        self._added = threading.Condition(self._lock)
        self._flushing = threading.Lock()  # one flush at a time: each waits for all before it
        self._written: dict[str, list[Blob]] = {}
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pack-upload")
        self._slots = threading.BoundedSemaphore(workers)
        self._futures: list[Future[None]] = []
        self.puts = 0

    def claim(self, chunk_id: str) -> bool:
        """True when the caller must store the chunk: not indexed, not claimed by this writer."""
        if chunk_id in self.repo.index:
            return False
        raw = bytes.fromhex(chunk_id)
        with self._lock:
            if raw in self._claimed:
                return False
            self._claimed.add(raw)
            self._pending.add(raw)
            return True

    def unclaim(self, chunk_id: str) -> None:
        """The claimed chunk was not stored (sealing failed): another stream may store it."""
        raw = bytes.fromhex(chunk_id)
        with self._lock:
            self._claimed.discard(raw)
            self._done(raw)

    def add(self, chunk_id: str, sealed: bytes, size: int) -> None:
        raw = bytes.fromhex(chunk_id)
        full = None
        try:
            with self._lock:
                self._open.add(chunk_id, sealed, size)
                if len(self._open) >= self.target:
                    full, self._open = self._open, PackBuilder()
            if full is not None:
                self._upload(full)
        finally:
            with self._lock:  # after the upload is registered: a flush must find it
                self._done(raw)

    def _done(self, raw: bytes) -> None:
        self._pending.discard(raw)
        self._added.notify_all()

    def _upload(self, builder: PackBuilder) -> None:
        self._slots.acquire()  # back-pressure: the sealers wait while `workers` packs upload
        try:
            future = self._pool.submit(self._put, builder)
        except BaseException:
            self._slots.release()
            raise
        with self._lock:
            self._futures.append(future)

    def _put(self, builder: PackBuilder) -> None:
        try:
            pack_id, data = builder.finish(self.repo.cipher)
            self.repo.backend.put(pack_key(pack_id), data)
            with self._lock:
                self._written[pack_id] = builder.blobs
                self.puts += 1
        finally:
            self._slots.release()

    def flush(self, before_index: Callable[[], None] = lambda: None) -> list[str]:
        """Upload the open pack, wait for every upload, call before_index (which may
        raise), write the index files; their ids. Every chunk claimed before the call is
        then in an indexed pack (a chunk another stream claimed is waited for), so a
        checkpoint may name it; concurrent calls run one after the other."""
        with self._flushing:
            return self._flush(before_index)

    def _flush(self, before_index: Callable[[], None]) -> list[str]:
        with self._lock:
            waiting = set(self._pending)
            while waiting & self._pending:
                self._added.wait()
            last, self._open = self._open, PackBuilder()
        if last.blobs:
            self._upload(last)
        with self._lock:
            futures, self._futures = self._futures, []
        for f in futures:
            f.result()
        before_index()
        with self._lock:
            written, self._written = self._written, {}
        ids = []
        for group in split_packs(written):
            index_id, sealed, body = encode_index(self.repo.cipher, group)
            self.repo.backend.put(index_key(index_id), sealed)
            self.puts += 1
            self.repo.index.add_body(index_id, body)
            ids.append(index_id)
        return ids

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
