"""Snapshot manifests: what a snapshot holds, and the results the engine returns."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from .format import isoformat, parse_time

MANIFEST_VERSION = 1  # the manifest document is the same in repository formats 1 and 2


@dataclass
class StreamEntry:
    name: str
    size: int
    sha256: str
    meta: dict[str, Any] = field(default_factory=dict)
    chunks: list[str] = field(default_factory=list)
    # Plaintext size of each chunk, parallel to `chunks` (lets readers seek and size
    # their read-ahead without fetching).
    sizes: list[int] = field(default_factory=list)

    def to_doc(self) -> dict[str, Any]:
        return {"size": self.size, "sha256": self.sha256, "meta": self.meta,
                "chunks": self.chunks, "sizes": self.sizes}

    @classmethod
    def from_doc(cls, name: str, d: dict[str, Any]) -> StreamEntry:
        return cls(name=name, size=int(d["size"]), sha256=d["sha256"], meta=d.get("meta") or {},
                   chunks=list(d.get("chunks") or []), sizes=list(d.get("sizes") or []))


@dataclass
class Manifest:
    id: str
    time: dt.datetime
    meta: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, StreamEntry] = field(default_factory=dict)
    host: str = ""
    repository_id: str = ""

    @property
    def status(self) -> str:
        return str(self.meta.get("status", "Succeeded"))

    @property
    def short_id(self) -> str:
        return self.id[:8]

    @property
    def size(self) -> int:
        return sum(s.size for s in self.streams.values())

    def to_doc(self) -> dict[str, Any]:
        return {"version": MANIFEST_VERSION, "id": self.id, "time": isoformat(self.time),
                "host": self.host, "repository_id": self.repository_id, "meta": self.meta,
                "streams": {n: s.to_doc() for n, s in self.streams.items()}}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Manifest:
        return cls(id=d["id"], time=parse_time(d["time"]), meta=d.get("meta") or {},
                   streams={n: StreamEntry.from_doc(n, s) for n, s in d["streams"].items()},
                   host=d.get("host", ""), repository_id=d.get("repository_id", ""))


@dataclass
class StreamInfo:
    name: str
    size: int
    sha256: str
    chunks_new: int
    bytes_new: int  # plaintext bytes of the chunks this stream uploaded
    reused: bool = False
    chunks: int = 0
    stored_bytes_new: int = 0  # bytes written to the backend (compressed + encrypted)
