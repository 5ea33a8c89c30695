"""Dump a cluster into a repository writer: one stream per index, nothing on local disk.

Each index is read through a consistent view (backups.elastic.reader: sliced scroll
sorted by `_doc`, or a point in time with `search_after` on `_shard_doc`), pages handed
to the writer as they come (`_Pages`, the one place a page passes through). The number
of documents read is checked against the view's count before the stream is finished,
so a short read never becomes a snapshot.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from backups.elastic.checkpoint import Positions, ResumeFrom
from backups.elastic.connection import ClusterError, Connection, index_list_paths
from backups.elastic.digest import DocumentDigest
from backups.elastic.dumped import DumpResult, IndexDumped
from backups.elastic.fingerprint import IndexState, index_states
from backups.elastic.hits import Page
from backups.elastic.incremental import (
    IdList,
    Layers,
    RangesCheck,
    ReadPrevious,
    Source,
    dump_delta,
    forget,
    no_deletes,
    server_reason,
    since,
    unsafe_reason,
)
from backups.elastic.memory import release_large_buffers
from backups.elastic.metadata import (
    CLUSTER_KINDS,
    IndexInfo,
    cluster_metadata,
    data_streams,
    indices_metadata,
    list_indices,
    nothing_matches,
    select_with_data_streams,
)
from backups.elastic.reader import Reader
from backups.elastic.results import (
    IndexMetadata,
    ManifestStream,
    ProgressEvent,
    RunTotals,
    SnapshotManifest,
    StreamMeta,
    StreamWriter,
)
from backups.elastic.seqs import SeqList, Unsafe, seqs_name
from storage.repo.checkpoint import Checkpoint, PartialStream
from storage.repo.format import RepositoryError

__all__ = ["FORMAT", "STREAM_PREFIX", "Cancelled", "CountMismatch", "DumpParams", "DumpResult", "IndexDumped",
           "ProgressEvent", "dump_cluster", "dump_index", "prepare", "stream_name"]

STREAM_PREFIX = "indices/"
FORMAT = "ndjson-v1"   # {"_id", "_routing"?, "_source"} per line


def stream_name(index: str) -> str:
    return STREAM_PREFIX + index


class Cancelled(Exception):
    pass


class CountMismatch(ClusterError):
    """Fewer or more documents read than the view's count."""


@dataclass
class DumpParams:
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    include_hidden: bool = False             # hidden and system (dot) indices
    batch_size: int = 5000                   # documents per page, at most
    page_bytes: int = 8 << 20                # ...and fewer when documents are large (memory)
    max_slices: int = 4                      # slices per index = min(shards, max_slices)
    parallel_indices: int = 4                # small indices (one page) read at once; a larger one alone
    read_mode: str = "auto"                  # "auto" (dialect's fastest) | "scroll" | "pit"
    resumable_bytes: int = 16 << 30          # "auto": a point in time (resumable mid-index) from this size
    keep_alive: str = "5m"
    max_docs_per_second: float = 0.0         # 0: no throttling
    metadata_kinds: tuple[str, ...] = CLUSTER_KINDS
    skip_unchanged: bool = True
    refresh: bool = True                     # make every acknowledged write visible first
    fail_on_closed: bool = False             # closed indices are reported either way
    incremental: bool = True                 # read a changed index as a delta when safe (backups/elastic/incremental.py)
    chain_length: int = 7                    # ...but in full once its stream has this many layers
    incremental_max_fraction: float = 0.2    # ...or when more than this part of its documents changed


Progress = Callable[[ProgressEvent], None]


class RateLimiter:
    """At most `rate` documents per second over the run (0: unlimited)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.done = 0
        self._lock = threading.Lock()

    def take(self, n: int) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            self.done += n
            ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


@dataclass
class Prepared:
    """What dump_cluster() fetched for many indices at once, before their refresh."""
    states: dict[str, IndexState]
    metadata: dict[str, IndexMetadata]
    refreshed: bool


def prepare(conn: Connection, infos: list[IndexInfo], params: DumpParams) -> Prepared:
    """States with fingerprints (first: see index_states()), one refresh, and index metadata for all
    `infos` in a few requests instead of four per index."""
    names = [i.name for i in infos]
    states = index_states(conn, names) if names else {}
    if params.refresh and names:
        for path in index_list_paths(names):
            conn.request("POST", f"{path}/_refresh", params={"ignore_unavailable": "true"},
                         privilege="maintenance on the indices (for _refresh)")
    return Prepared(states, indices_metadata(conn, infos) if infos else {}, params.refresh)


def page_docs(params: DumpParams, doc_bytes: float | None) -> int:
    """Documents per page: batch_size, or fewer for large documents, so that a page (held
    a few times over between the server and the repository) stays near page_bytes and
    memory stays flat whatever the documents. Stored bytes per document are a guess at the
    JSON (compression makes them smaller, index structures larger): twice that is used."""
    if not doc_bytes:
        return params.batch_size
    return max(1, min(params.batch_size, int(params.page_bytes / (2 * doc_bytes))))


@dataclass
class _Run:
    """What every index of one dump shares."""
    conn: Connection
    writer: StreamWriter
    params: DumpParams
    prepared: Prepared
    previous: SnapshotManifest | None
    progress: Progress | None
    cancel: threading.Event
    limiter: RateLimiter
    totals: RunTotals
    warnings: list[str]
    resume: ResumeFrom | None = None
    read_previous: ReadPrevious | None = None
    # several indices may be read at once: the progress callback is called by one at a time
    _lock: threading.Lock = field(default_factory=threading.Lock)
    ranges: RangesCheck = field(default_factory=RangesCheck)

    def emit(self, index: str, phase: str, docs: int, nbytes: int, total: int | None) -> None:
        if self.progress:
            with self._lock:
                self.progress(ProgressEvent(index, phase, docs, nbytes, total, self.totals.docs, self.totals.bytes))


def dump_index(conn: Connection, writer: StreamWriter, info: IndexInfo, params: DumpParams, prepared: Prepared, *,
               previous: SnapshotManifest | None = None, progress: Progress | None = None,
               cancel: threading.Event | None = None, limiter: RateLimiter | None = None,
               totals: RunTotals | None = None, warnings: list[str] | None = None,
               data_stream: str = "") -> IndexDumped:
    """Dump one index into `writer` as stream `indices/<name>`. `prepared` comes from
    prepare() over the indices of the run."""
    run = _Run(conn, writer, params, prepared, previous, progress, cancel or threading.Event(),
               limiter or RateLimiter(params.max_docs_per_second), totals or RunTotals(),
               warnings if warnings is not None else [])
    return _dump_index(run, info, data_stream)


def _dump_index(run: _Run, info: IndexInfo, data_stream: str) -> IndexDumped:
    t0 = time.monotonic()
    state = _readable_state(run.prepared, info)
    meta = _stream_meta(info, state, run.prepared.metadata[info.name], data_stream)
    if state.checkpoints is not None and run.prepared.refreshed:
        # only after the refresh is every operation at or below them in the read (backups/elastic/seqs.py)
        meta["seq_floor"] = state.checkpoints
    taken = _take_over(run, info, meta)
    if taken is not None:
        run.emit(info.name, "skipped", taken.docs, taken.bytes, taken.docs)
        return IndexDumped(taken.docs, taken.bytes, time.monotonic() - t0, False, None, info.uuid, data_stream,
                           taken.read_mode, taken.slices, resumed_from=taken.source, mode=taken.mode,
                           docs_deleted=taken.docs_deleted, reason="taken over from the checkpoint")
    reused = _reuse(run, info, meta)
    if reused is not None:
        done = IndexDumped(reused.docs, reused.bytes, time.monotonic() - t0, True, None, info.uuid, data_stream)
        run.emit(info.name, "skipped", done.docs, done.bytes, done.docs)
        return done
    delta = _incremental(run, info, meta, state)
    if isinstance(delta, IndexDumped):
        done = replace(delta, duration=time.monotonic() - t0, uuid=info.uuid, data_stream=data_stream)
        run.emit(info.name, "done", done.docs, done.bytes, done.docs)
        return done
    pages, reader = _read(run, info, meta, state)
    return IndexDumped(pages.docs, pages.stored, time.monotonic() - t0, False, None, info.uuid, data_stream,
                       reader.mode, reader.slices, docs_read=pages.read,
                       resumed_from=run.resume.short_id if run.resume and pages.resumed else "",
                       digest=pages.digest.as_meta(), reason=delta)


def _incremental(run: _Run, info: IndexInfo, meta: StreamMeta, state: IndexState) -> IndexDumped | str:
    """The index read as a delta of the previous snapshot, or why it is read in full."""
    if not run.params.incremental or run.read_previous is None:
        return "incremental reads are off"
    meta["primary_terms"] = info.primary_terms   # the next run compares them
    if run.previous is None:
        return "no previous snapshot"
    if run.resume is not None and run.resume.partial(stream_name(info.name), meta, mode="pit",
                                                    slices=max(1, min(info.shards, run.params.max_slices)),
                                                    sort=(run.conn.dialect.pit_sort(info.shards)
                                                          if run.conn.dialect else None)) is not None:
        return "an interrupted full read of it resumes"
    prev = _previous_stream(run.previous, stream_name(info.name))
    reason = unsafe_reason(prev, meta, state, run.params.chain_length)
    if reason is None and prev is not None:
        reason = run.ranges.reason(run.conn, info.name, state.docs) or server_reason(
            run.conn, info.name, since(prev.meta), state.docs, run.params.incremental_max_fraction)
    if reason is None and prev is not None and (meta["primary_terms"] is None
                                                or prev.meta.get("primary_terms") != meta["primary_terms"]):
        reason = "primary terms changed or unknown"
    if reason is not None or prev is None:
        return reason or "not in the previous snapshot"
    try:
        src = _source(run, info)
        src.no_deletes = no_deletes((prev.meta.get("fingerprint_signals") or {}).get("shards") or {},
                                    state.signals.get("shards") or {})
        d = dump_delta(src, meta, prev.meta, stream_name(info.name))
    except Unsafe as e:
        run.warnings.append(f"index {info.name}: {e}; read in full")
        return str(e)
    except ClusterError as e:   # the server refused a delta read (a count that moved, say): never a wrong snapshot
        run.warnings.append(f"index {info.name}: the delta read failed ({e}); read in full")
        return f"the delta read failed ({e})"
    return IndexDumped(d.docs, d.bytes, 0.0, False, None, read_mode="incremental", docs_read=d.docs_read,
                       mode="incremental", docs_deleted=d.docs_deleted)


def _source(run: _Run, info: IndexInfo) -> Source:
    assert run.conn.dialect is not None and run.read_previous is not None and run.previous is not None
    d = run.conn.dialect
    mode = d.default_read_mode if run.params.read_mode == "auto" else run.params.read_mode
    state = run.prepared.states[info.name]

    def on_page(docs: int, nbytes: int) -> None:
        run.limiter.take(docs)
        run.totals.add(docs, nbytes)

    return Source(run.conn, run.writer, run.previous, run.read_previous, info,
                  {"mode": mode if d.supports_pit or mode != "pit" else "scroll",
                   "page_docs": page_docs(run.params, state.doc_bytes), "max_slices": run.params.max_slices,
                   "keep_alive": run.params.keep_alive}, run.cancel, on_page)


def _readable_state(prepared: Prepared, info: IndexInfo) -> IndexState:
    if info.health == "red":
        raise ClusterError(f"index {info.name} is red (primary shards unassigned): fix the cluster "
                           "(GET _cluster/allocation/explain) or exclude the index")
    if info.name not in prepared.states or info.name not in prepared.metadata:
        raise ClusterError(f"index {info.name} not found (deleted during the backup?)", status=404,
                           error_type="index_not_found_exception")
    return prepared.states[info.name]


def _stream_meta(info: IndexInfo, state: IndexState, metadata: IndexMetadata, data_stream: str) -> StreamMeta:
    meta: StreamMeta = {"index": info.name, "uuid": info.uuid, "format": FORMAT, "settings": metadata["settings"],
                        "mappings": metadata["mappings"], "aliases": metadata["aliases"], "fingerprint": state.fingerprint, "fingerprint_signals": state.signals, "shards": info.shards}
    if data_stream:
        meta["data_stream"] = data_stream
    return meta


@dataclass(frozen=True)
class _Reused:
    docs: int
    bytes: int
    read_mode: str | None = None
    slices: int = 0
    source: str = ""
    mode: str = "full"
    docs_deleted: int = 0


def _take_over(run: _Run, info: IndexInfo, meta: StreamMeta) -> _Reused | None:
    """Reference the stream an interrupted run of this configuration finished (its
    checkpoint), when the index is unchanged since; None when it must be read."""
    name = stream_name(info.name)
    entry = run.resume.complete(name, meta) if run.resume is not None and run.prepared.refreshed else None
    if entry is None or run.resume is None:
        return None
    took = meta.copy()
    # an incremental read's stream composes others the checkpoint holds too; a full read's id list likewise
    layers = Layers.of(info.name, name, entry.meta)
    companions = layers.companions(name) if layers is not None else []
    if any(c not in run.resume.manifest.streams for c in companions):
        if "composed" in entry.meta:
            return None
        companions = []
    keep = ("composed", "id_list", "seq_list", "mode", "docs_deleted") if companions else ()
    took.pop("seq_floor", None)   # the checkpointed stream's, not this run's (see _reuse)
    for k in ("docs", "read_mode", "slices", "count_source", "page_docs", "digest", "seq_floor", *keep):
        if k in entry.meta:
            took[k] = entry.meta[k]   # type: ignore[literal-required]
    took["complete"], took["resumed_from"] = True, run.resume.point.id
    done: list[str] = []
    try:
        for companion in companions:
            run.writer.reuse_stream(companion, run.resume.manifest,
                                    meta=dict(run.resume.manifest.streams[companion].meta), source=companion)
            done.append(companion)
        run.writer.reuse_stream(name, run.resume.manifest, meta=dict(took))
    except Exception as e:  # noqa: BLE001 - e.g. its chunks were pruned: read it again
        for companion in done:
            forget(run.writer, companion)
        run.warnings.append(f"index {info.name}: could not take over the checkpointed stream ({e}); read it again")
        return None
    return _Reused(int(took.get("docs") or 0), entry.size, took.get("read_mode"), int(took.get("slices") or 0),
                   run.resume.short_id, str(took.get("mode") or "full"), int(took.get("docs_deleted") or 0))


def _reuse(run: _Run, info: IndexInfo, meta: StreamMeta) -> _Reused | None:
    """Reference the previous snapshot's stream when the index is unchanged (its
    fingerprint the same, read complete, same format); None when it must be read."""
    name = stream_name(info.name)
    prev = _previous_stream(run.previous, name)
    # without the refresh, writes acknowledged but not yet searchable would be in the
    # fingerprint and missing from the stream: never reuse then
    if not (run.params.skip_unchanged and prev is not None and prev.meta.get("fingerprint") == meta["fingerprint"]
            and prev.meta.get("complete") and prev.meta.get("format") == FORMAT and run.prepared.refreshed):
        return None
    reuse_meta = meta.copy()
    reuse_meta["docs"] = prev.meta.get("docs", 0)
    reuse_meta["complete"] = True
    reuse_meta["reused_from"] = getattr(run.previous, "id", None)
    reuse_meta["read_mode"] = prev.meta.get("read_mode")
    reuse_meta["count_source"] = prev.meta.get("count_source")
    reuse_meta.pop("seq_floor", None)   # the previous stream's: a global checkpoint moves on after the last write
    for k in ("digest", "composed", "id_list", "seq_list", "primary_terms", "docs_deleted", "seq_floor"):
        if prev.meta.get(k) is not None:
            reuse_meta[k] = prev.meta[k]
    layers = Layers.of(info.name, name, prev.meta)
    assert run.previous is not None
    done: list[str] = []
    try:
        for companion in layers.companions(name) if layers is not None else []:
            run.writer.reuse_stream(companion, run.previous, meta=dict(run.previous.streams[companion].meta),
                                    source=companion)
            done.append(companion)
        stored = run.writer.reuse_stream(name, run.previous, meta=dict(reuse_meta))
    except Exception as e:  # noqa: BLE001 - e.g. the previous chunks were pruned: read it again
        for companion in done:   # the read writes them afresh
            forget(run.writer, companion)
        run.warnings.append(f"index {info.name}: could not reuse the previous snapshot's stream ({e}); read it again")
        return None
    return _Reused(int(reuse_meta.get("docs") or 0), int(getattr(stored, "size", 0) or prev.size or 0))


def _read(run: _Run, info: IndexInfo, meta: StreamMeta, state: IndexState) -> tuple[_Pages, Reader]:
    d = run.conn.dialect
    assert d is not None
    slices, sort = max(1, min(info.shards, run.params.max_slices)), d.pit_sort(info.shards)
    mode = d.default_read_mode if run.params.read_mode == "auto" else run.params.read_mode
    if mode == "pit" and (not d.supports_pit or run.params.read_mode == "auto" and slices == info.shards
                          and state.docs * (state.doc_bytes or 0) < run.params.resumable_bytes):
        # a point in time on `_seq_no` costs Elasticsearch twice a scroll's CPU (docs/engine-interface.md,
        # read_mode); a scroll with one slice per shard still gives each hit's shard and _seq_no
        mode = "scroll"
    start = run.resume.partial(stream_name(info.name), meta, mode=mode, slices=slices, sort=sort) \
        if run.resume is not None else None
    try:
        return _read_from(run, info, meta, state, mode, start)
    except _PrefixUnusable as e:
        run.warnings.append(f"index {info.name}: the checkpointed part of its stream cannot be used ({e.__cause__}); "
                            "read it again from its start")
        return _read_from(run, info, meta, state, mode, None)


class _PrefixUnusable(Exception):
    """A checkpointed prefix failed before any page was read (a chunk gone or damaged)."""


def _read_from(run: _Run, info: IndexInfo, meta: StreamMeta, state: IndexState, mode: str,
               start: PartialStream | None) -> tuple[_Pages, Reader]:
    """Read the index into its stream, from `start` (a checkpointed prefix) when given."""
    after = {int(k): v for k, v in (start.position.get("after") or {}).items()} if start else None
    # the id list the next run's delta needs: not for a resumed read (its prefix's keys are not known)
    keys = run.params.incremental and run.read_previous is not None and start is None
    reader = Reader(run.conn, info, mode, run.cancel, page_docs=page_docs(run.params, state.doc_bytes),
                    max_slices=run.params.max_slices, keep_alive=run.params.keep_alive, after=after, keys=keys,
                    codes=keys)
    try:
        reader.open()
        run.warnings.extend(reader.notes)
        if reader.mode != "pit":   # the point in time could not be opened after all: from the start
            start, reader.after = None, {}
        meta["docs"], meta["read_mode"], meta["slices"] = reader.expected, reader.mode, reader.slices
        meta["count_source"], meta["page_docs"], meta["complete"] = reader.count_source, reader.page_docs, True
        positions = Positions(reader.slices, run.conn.dialect.pit_sort(info.shards), start) \
            if reader.mode == "pit" and run.conn.dialect is not None else None
        pages = _Pages(run, info.name, reader, dict(meta), positions)
        if reader.keys:
            pages.keys = IdList(run.writer, info.name, 0)
            pages.seqs = SeqList() if reader.labels else None
        run.emit(info.name, "start", pages.docs, pages.bytes, reader.expected)
        try:
            stored = run.writer.add_stream(stream_name(info.name), pages.lines(), meta=pages.meta, resume=start,
                                           position=positions)
        except RepositoryError as e:
            if start is not None and not pages.started:
                raise _PrefixUnusable() from e
            raise
    finally:
        reader.close()
    pages.stored = int(getattr(stored, "size", pages.bytes) or pages.bytes)
    run.emit(info.name, "done", pages.docs, pages.bytes, reader.expected)
    return pages, reader


class _Pages:
    """The pages of one index on their way to the writer: counted, throttled, checked
    against the view's count at the end, digested (backups.elastic.digest). Every page
    passes through `_take()`. `meta` is the stream's: the writer stores it once the
    lines are read to their end, which is when the digest is put in it."""

    def __init__(self, run: _Run, index: str, reader: Reader, meta: dict[str, Any],
                 positions: Positions | None = None) -> None:
        self.run, self.index, self.reader, self.meta, self.positions = run, index, reader, meta, positions
        # a resumed read counts the checkpointed prefix's documents (the count check and
        # the digest are over the whole stream) but reads only the rest: `read`
        self.resumed = bool(reader.after) and positions is not None
        self.digest = positions.digest if positions is not None else DocumentDigest()
        self.docs = positions.docs if positions is not None and self.resumed else 0
        self.bytes = positions.bytes if positions is not None and self.resumed else 0
        self.read = 0
        self.started = False
        self.stored = 0     # bytes the repository says the stream holds, once written
        self.keys: IdList | None = None   # the id list's records (key, line), when asked
        self.seqs: SeqList | None = None  # ...and the sequence list, when the read knows each hit's shard

    def _take(self, page: Page) -> None:
        self.run.limiter.take(page.docs)
        self.docs += page.docs
        self.read += page.docs
        self.bytes += len(page.lines)
        self.run.totals.add(page.docs, len(page.lines))
        if self.keys is not None:
            self.keys.add(page.keys, first_line=self.docs - page.docs)
        if self.seqs is not None:
            self.seqs.add(page.codes, page.docs)
        if self.positions is not None:
            self.positions.take(page)   # the digest too, under the positions' lock
        else:
            self.digest.add_lines(page.lines)

    def lines(self) -> Iterator[bytes]:
        self.started = True
        expected = self.reader.expected
        for page in self.reader.pages():
            if self.run.cancel.is_set():
                raise Cancelled(f"dump of {self.index} cancelled")
            self._take(page)
            yield page.lines
            self.run.emit(self.index, "data", self.docs, self.bytes, expected)
        if self.run.cancel.is_set():
            raise Cancelled(f"dump of {self.index} cancelled")
        if self.docs != expected:
            # raised inside the stream, so the writer never finishes a short stream
            raise CountMismatch(
                f"index {self.index}: read {self.docs} documents but the {self.reader.count_source} "
                f"count at the point in time is {expected}: the index changed during the read "
                "or the server returned incomplete pages; retry the backup")
        self.meta["digest"] = self.digest.as_meta()
        if self.keys is not None:
            self.meta["id_list"] = self.keys.finish()
        if self.seqs is not None and self.seqs.ok:
            self.meta["seq_list"] = self.seqs.write(self.run.writer, seqs_name(self.index, 0))


def _previous_stream(previous: SnapshotManifest | None, name: str) -> ManifestStream | None:
    return None if previous is None else (getattr(previous, "streams", None) or {}).get(name)


def dump_cluster(conn: Connection, writer: StreamWriter, params: DumpParams | None = None, *,
                 previous: SnapshotManifest | None = None, progress: Progress | None = None,
                 cancel: threading.Event | None = None, resume: Checkpoint | None = None,
                 read_previous: ReadPrevious | None = None) -> DumpResult:
    """Dump the selected indices of `conn` into `writer` (see docs/engine-interface.md).

    An index that fails is recorded with its error and the others go on; `ok` is False
    when any index failed. The caller commits the writer. `resume` is what an interrupted
    run of the same configuration left (backups/elastic/checkpoint.py). `read_previous`
    reads a stream of `previous` back (with a small read-ahead: many are merged at once):
    with it, a changed index is read as a delta when that is safe, and every full read
    writes the id list the next delta needs (backups/elastic/incremental.py)."""
    params = params or DumpParams()
    release_large_buffers()   # pages and chunks of megabytes: see backups/elastic/memory.py
    if conn.dialect is None:
        conn.identify()
    result = DumpResult(indices={}, cluster_meta={}, ok=True)
    result.cluster_meta = cluster_metadata(conn, params.metadata_kinds)
    result.cluster_meta["cluster"] = conn.cluster_summary()
    streams = data_streams(conn)
    result.cluster_meta["data_streams"] = streams
    indices = list_indices(conn)
    selected, backing = select_with_data_streams(indices, streams, params.include, params.exclude,
                                                 params.include_hidden)
    if not selected:
        # An empty snapshot would look green and count toward keep-last: fail before anything is committed.
        visible = [i.name for i in indices if params.include_hidden or not i.hidden]
        raise ClusterError(nothing_matches("the cluster", params.include, params.exclude, visible))
    prepared = prepare(conn, [i for i in selected if i.status == "open" and i.health != "red"], params)
    run = _Run(conn, writer, params, prepared, previous, progress, cancel or threading.Event(),
               RateLimiter(params.max_docs_per_second), RunTotals(), result.warnings,
               ResumeFrom(resume, FORMAT) if resume is not None else None, read_previous)
    for info, done in _dump_all(run, selected, backing):
        result.indices[info.name] = done.to_json()
        if done.error:
            result.ok = False
    return result


def _small(run: _Run, info: IndexInfo) -> bool:
    """An index whose documents fit in one page: read beside others, its memory is one page."""
    state = run.prepared.states.get(info.name)   # none, or closed: not read at all
    return state is None or info.status != "open" or state.docs <= page_docs(run.params, state.doc_bytes)


def _dump_all(run: _Run, selected: list[IndexInfo], backing: dict[str, str]) -> Iterator[tuple[IndexInfo, IndexDumped]]:
    """_dump_one() over `selected`, in their order: up to `parallel_indices` small indices
    at once (many small indices cost round trips more than bytes), a larger one alone, with
    all its slices, so memory stays what one index needs."""
    if run.params.parallel_indices <= 1:
        for info in selected:
            yield info, _dump_one(run, info, backing.get(info.name, ""))
        return
    pending: list[tuple[IndexInfo, Future[IndexDumped]]] = []
    with ThreadPoolExecutor(max_workers=run.params.parallel_indices, thread_name_prefix="dump-index") as pool:
        try:
            yield from _in_order(run, selected, backing, pool, pending)
        finally:   # an error (the repository failing) stops the run: start nothing more
            for _, f in pending:
                f.cancel()


def _in_order(run: _Run, selected: list[IndexInfo], backing: dict[str, str], pool: ThreadPoolExecutor,
              pending: list[tuple[IndexInfo, Future[IndexDumped]]]) -> Iterator[tuple[IndexInfo, IndexDumped]]:
    for info in selected:
        if not _small(run, info):
            while pending:
                i, f = pending.pop(0)
                yield i, f.result()
            yield info, _dump_one(run, info, backing.get(info.name, ""))
            continue
        pending.append((info, pool.submit(_dump_one, run, info, backing.get(info.name, ""))))
        if len(pending) > 2 * run.params.parallel_indices:   # results in order, a bounded backlog
            i, f = pending.pop(0)
            yield i, f.result()
    while pending:
        i, f = pending.pop(0)
        yield i, f.result()


def _dump_one(run: _Run, info: IndexInfo, data_stream: str) -> IndexDumped:
    """One index of dump_cluster(): cancelled, closed (reported, not read), or dumped;
    a failure is this index's only."""
    if run.cancel.is_set():
        return IndexDumped(error="cancelled")
    if info.status != "open":
        msg = f"index {info.name} is closed and was not backed up: open it (POST /{info.name}/_open) or exclude it"
        run.warnings.append(msg)
        run.emit(info.name, "skipped", 0, 0, 0)
        return IndexDumped(closed=True, error=msg if run.params.fail_on_closed else None)
    t0 = time.monotonic()
    try:
        return _dump_index(run, info, data_stream)
    except (ClusterError, Cancelled) as e:
        run.emit(info.name, "failed", 0, 0, None)
        return IndexDumped(duration=time.monotonic() - t0, error=str(e))
