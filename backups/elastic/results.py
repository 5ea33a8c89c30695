"""The engine's typed seams: progress events and run totals, the writer and the previous
snapshot the dump is given, and the JSON it hands on (the per-index results the jobs
store in Snapshot.components["dump"], and a stream's meta in the repository's manifest).
The JSON keeps the keys it always had (tests/backups/elastic/test_results.py)."""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict


@dataclass(frozen=True)
class ProgressEvent:
    index: str
    phase: str            # "start" | "data" | "done" | "skipped" | "failed"
    docs: int             # documents of this index so far
    bytes: int            # stream bytes of this index so far
    total: int | None     # documents expected for this index
    run_docs: int = 0     # all indices so far
    run_bytes: int = 0


@dataclass
class RunTotals:
    """Documents and bytes of the whole run so far; added to from several threads."""
    docs: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, docs: int, nbytes: int) -> tuple[int, int]:
        with self._lock:
            self.docs += docs
            self.bytes += nbytes
            return self.docs, self.bytes


# -- what the dump writes into, and reads the previous snapshot from -----------------------
class Stored(Protocol):
    @property
    def size(self) -> int: ...


class ManifestStream(Protocol):
    @property
    def meta(self) -> Mapping[str, Any]: ...
    @property
    def size(self) -> int: ...


class SnapshotManifest(Protocol):
    """A committed manifest (storage.repo.manifest.Manifest, or a test's stand-in): the
    dump's previous snapshot, the load's source."""
    @property
    def id(self) -> str: ...
    @property
    def meta(self) -> Mapping[str, Any]: ...
    @property
    def streams(self) -> Mapping[str, ManifestStream]: ...


class StreamWriter(Protocol):
    """The repository's SnapshotWriter as the dump uses it (docs/engine-interface.md)."""
    def add_stream(self, name: str, data: Iterable[bytes], meta: dict[str, Any], *, resume: Any = None,
                   position: Callable[[], dict[str, Any]] | None = None) -> Stored: ...
    def reuse_stream(self, name: str, previous: Any, meta: dict[str, Any], *, source: str | None = None) -> Stored: ...


# -- the JSON --------------------------------------------------------------------------------
class IndexMetadata(TypedDict):
    settings: dict[str, Any]
    mappings: dict[str, Any]
    aliases: dict[str, Any]


class StreamMeta(IndexMetadata, total=False):
    """A stream's meta in the manifest, in the order the dump writes it."""
    index: str
    uuid: str
    format: str
    fingerprint: str
    fingerprint_signals: dict[str, Any]
    shards: int
    data_stream: str
    docs: int | None
    read_mode: str | None
    slices: int
    count_source: str | None
    page_docs: int
    complete: bool
    reused_from: str | None
    resumed_from: str                  # the checkpoint of an interrupted run it was taken from
    digest: dict[str, Any]     # backups.elastic.digest's as_meta(), once the stream is read
    primary_terms: dict[str, int] | None   # each shard's, when the server says (a change forbids a delta)
    id_list: list[str]                 # its id list's sorted runs (backups.elastic.keys), full reads
    seq_list: str                      # its sequence list (backups.elastic.seqs), full reads that knew the shards
    seq_floor: dict[str, int]          # each primary's global checkpoint before the read (the next delta's floor)
    mode: str                          # "incremental": read as a delta, its stream `composed`
    docs_deleted: int
    deletions_from: str                # "seqs": doc values found them; "ids": an ids-only read; "count": none, the view's count proves it
    composed: dict[str, Any]           # {"layers": [...], "keys": [...], "dead": {layer: stream}, "seqs": [...]}


class DumpEntry(TypedDict, total=False):
    """One index of Snapshot.components["dump"]."""
    docs: int
    bytes: int
    duration: float
    skipped_unchanged: bool
    docs_read: int
    closed: bool
    error: str | None
    uuid: str
    data_stream: str
    read_mode: str
    slices: int
    resumed_from: str
    digest: dict[str, Any]
    mode: str              # "full" | "incremental" | "unchanged"
    docs_deleted: int      # incremental: documents of the previous snapshot no longer in the index
    reason: str            # full: why the index was not read as a delta


class LoadEntry(TypedDict, total=False):
    """One index of RestoreSession.components["load"]."""
    source: str
    docs: int
    bytes: int
    failed: int
    failures: list[str]
    duration: float
    error: str | None
    status: str
    expected: int
    data_stream: str
    skipped: str
    partial: bool
    left: str
    count: int
    resumed: str
    backoffs: int          # times the cluster's rejections (429) halved the bulks in flight
    fewest_senders: int    # ...down to this many
