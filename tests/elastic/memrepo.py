"""An in-memory stand-in for the repository writer/reader of docs/engine-interface.md.

Used where it makes a test sharper (it records whether a stream's bytes were read or
reused); round trips also run against the real repository when it is available."""
from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Self

from storage.repo.manifest import StreamInfo


@dataclass
class StreamEntry:
    name: str
    size: int
    sha256: str
    meta: dict[str, Any]
    chunks: list[str] = field(default_factory=list)


@dataclass
class Manifest:
    id: str
    time: datetime
    meta: dict[str, Any]
    streams: dict[str, StreamEntry]


class MemWriter:
    def __init__(self, repo: MemRepo, meta: dict[str, Any]) -> None:
        self.repo, self.meta = repo, dict(meta)
        self.streams: dict[str, StreamEntry] = {}
        self.lock = threading.Lock()
        self.bytes_read = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def add_stream(self, name: str, data: Iterable[bytes], meta: dict[str, Any], *, resume: Any = None,
                   position: Any = None) -> StreamInfo:
        assert resume is None  # a MemRepo writer keeps no checkpoint
        h = hashlib.sha256()
        parts = []
        for b in data:  # an exception here means no stream, like the real writer
            h.update(b)
            parts.append(bytes(b))
        blob = b"".join(parts)
        key = h.hexdigest()
        with self.lock:
            self.repo.blobs[key] = blob
            self.bytes_read += len(blob)
            self.streams[name] = StreamEntry(name, len(blob), key, dict(meta), [key])
        return StreamInfo(name, len(blob), key, 1, len(blob), False)

    def reuse_stream(self, name: str, previous: Manifest, meta: dict[str, Any]) -> StreamInfo:
        old = previous.streams[name]
        with self.lock:
            self.streams[name] = StreamEntry(name, old.size, old.sha256, dict(meta), list(old.chunks))
        return StreamInfo(name, old.size, old.sha256, 0, 0, True)

    def commit(self, meta: dict[str, Any] | None = None) -> str:
        m = Manifest(uuid.uuid4().hex[:16], datetime.now(UTC), {**self.meta, **(meta or {})},
                     self.streams)
        self.repo.manifests.append(m)
        return m.id


class MemRepo:
    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: list[Manifest] = []

    def writer(self, meta: dict[str, Any] | None = None) -> MemWriter:
        return MemWriter(self, meta or {})

    def manifest(self, ref: str) -> Manifest:
        if ref == "latest":
            return self.manifests[-1]
        return next(m for m in self.manifests if m.id == ref)

    def latest(self) -> Manifest | None:
        return self.manifests[-1] if self.manifests else None

    def read_stream(self, manifest: Manifest | str, name: str) -> Iterator[bytes]:
        m = manifest if isinstance(manifest, Manifest) else self.manifest(manifest)
        blob = b"".join(self.blobs[c] for c in m.streams[name].chunks)
        for i in range(0, len(blob), 64 * 1024):  # arbitrary boundaries, not lines
            yield blob[i:i + 64 * 1024]
