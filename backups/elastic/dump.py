"""Dump a cluster into a repository writer: one stream per index, nothing on local disk.

Each index is read through a consistent view (sliced scroll sorted by `_doc`, or a point
in time with `search_after` on `_shard_doc`), slices read in parallel threads, pages
handed to the writer as they come. The number of documents read is checked against the
view's count before the stream is finished, so a short read never becomes a snapshot.
"""
from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_list_paths, index_path
from backups.elastic.digest import DocumentDigest
from backups.elastic.fingerprint import IndexState, index_states
from backups.elastic.hits import Page, parse_page
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

STREAM_PREFIX = "indices/"
FORMAT = "ndjson-v1"   # {"_id", "_routing"?, "_source"} per line


def stream_name(index: str) -> str:
    return STREAM_PREFIX + index


class Cancelled(Exception):
    pass


class CountMismatch(ClusterError):
    pass


@dataclass
class DumpParams:
    include: list[str] = field(default_factory=lambda: ["*"])
    exclude: list[str] = field(default_factory=list)
    include_hidden: bool = False             # hidden and system (dot) indices
    batch_size: int = 5000                   # documents per page, at most
    page_bytes: int = 8 << 20                # ...and fewer when documents are large (memory)
    max_slices: int = 4                      # slices per index = min(shards, max_slices)
    read_mode: str = "auto"                  # "auto" (dialect's fastest) | "scroll" | "pit"
    keep_alive: str = "5m"
    max_docs_per_second: float = 0.0         # 0: no throttling
    metadata_kinds: tuple[str, ...] = CLUSTER_KINDS
    skip_unchanged: bool = True
    refresh: bool = True                     # make every acknowledged write visible first
    fail_on_closed: bool = False             # closed indices are reported either way


@dataclass
class ProgressEvent:
    index: str
    phase: str            # "start" | "data" | "done" | "skipped" | "failed"
    docs: int             # documents of this index so far
    bytes: int            # stream bytes of this index so far
    total: int | None     # documents expected for this index
    run_docs: int = 0     # all indices so far
    run_bytes: int = 0


@dataclass
class DumpResult:
    indices: dict[str, dict[str, Any]]
    cluster_meta: dict[str, Any]
    ok: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def docs(self) -> int:
        return sum(int(i.get("docs") or 0) for i in self.indices.values())

    @property
    def bytes(self) -> int:
        return sum(int(i.get("bytes") or 0) for i in self.indices.values())


class RateLimiter:
    """At most `rate` documents per second over the run (0: unlimited)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.start = time.monotonic()
        self.done = 0

    def take(self, n: int) -> None:
        if self.rate <= 0:
            return
        self.done += n
        ahead = self.done / self.rate - (time.monotonic() - self.start)
        if ahead > 0:
            time.sleep(ahead)


_DONE = object()


class _Reader:
    """Parallel slice readers feeding one ordered-by-arrival queue of pages."""

    def __init__(self, conn: Connection, info: IndexInfo, params: DumpParams, mode: str,
                 cancel: threading.Event, page_docs: int | None = None) -> None:
        self.conn, self.info, self.params, self.mode = conn, info, params, mode
        self.page_docs = page_docs or params.batch_size
        self.cancel = cancel
        self.slices = max(1, min(info.shards, params.max_slices))
        self.q: queue.Queue[Any] = queue.Queue(maxsize=max(2, self.slices))
        self.stop = threading.Event()
        self.totals: dict[int, int | None] = {}
        self.first = threading.Semaphore(0)
        self._signalled: set[int] = set()
        self.pit_id: str | None = None
        self.scroll_ids: set[str] = set()
        self.threads: list[threading.Thread] = []
        self.expected: int | None = None
        self.count_source = ""
        self.notes: list[str] = []

    # -- view -------------------------------------------------------------------------
    def open(self) -> None:
        d = self.conn.dialect
        assert d is not None
        p = index_path(self.info.name)
        if self.mode == "pit" and d.pit_sort(self.info.shards) is None:
            self.notes.append(f"index {self.info.name}: {d.distribution} {d.version_string} cannot page a point "
                              f"in time over {self.info.shards} shards exactly (no _shard_doc); read with scroll")
            self.mode = "scroll"
        if self.mode == "pit":
            try:
                r = self.conn.json("POST", d.pit_open_path(p), params={"keep_alive": self.params.keep_alive},
                                   index=self.info.name, privilege=f"read on index {self.info.name}")
            except ClusterError as e:
                if not e.endpoint_missing:
                    raise
                # the server has no PIT (or not at this path): scroll is the fallback
                self.notes.append(f"index {self.info.name}: point in time unavailable ({e}); read with scroll")
                self.mode = "scroll"
                self.open()
                return
            self.pit_id = r.get("pit_id") or r.get("id")
            c = self.conn.json("POST", "/_search", {"size": 0, "track_total_hits": True,
                                                    "pit": {"id": self.pit_id, "keep_alive": self.params.keep_alive}},
                               privilege=f"read on index {self.info.name}")
            t = (c.get("hits") or {}).get("total") or {}
            if isinstance(t, dict) and t.get("relation") == "eq":
                self.expected, self.count_source = int(t["value"]), "pit"
        for i in range(self.slices):
            th = threading.Thread(target=self._run, args=(i,), name=f"dump-{self.info.name}-{i}", daemon=True)
            th.start()
            self.threads.append(th)
        if self.mode == "scroll":
            # the first page of every slice carries that slice's exact total (relation "eq"
            # when the server honours track_total_hits); wait for all before streaming
            for _ in range(self.slices):
                self.first.acquire()
            if self.totals and all(v is not None for v in self.totals.values()) and len(self.totals) == self.slices:
                self.expected, self.count_source = sum(int(v or 0) for v in self.totals.values()), "scroll"
        if self.expected is None:
            c = self.conn.json("GET", f"{p}/_count", index=self.info.name)
            self.expected, self.count_source = int(c["count"]), "_count"

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.q.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _check(self, page: Page, raw_failures: Any) -> None:
        if page.shard_failures or raw_failures:
            raise ClusterError(f"index {self.info.name}: shard failures while reading "
                               f"({str(page.shard_failures or raw_failures)[:300]}): fix the cluster's "
                               "health (GET _cluster/allocation/explain) and retry")

    def _signal_first(self, i: int) -> None:
        if i not in self._signalled:
            self._signalled.add(i)
            self.first.release()

    def _run(self, i: int) -> None:
        try:
            if self.mode == "pit":
                self._run_pit(i)
            else:
                self._run_scroll(i)
        except BaseException as e:  # noqa: BLE001 - handed to the consumer, which re-raises
            self._put(e)
        finally:
            if self.mode == "scroll":
                self._signal_first(i)
            self._put(_DONE)

    def _slice(self, i: int) -> dict[str, Any]:
        return {"slice": {"id": i, "max": self.slices}} if self.slices > 1 else {}

    def _run_scroll(self, i: int) -> None:
        body = {"size": self.page_docs, "sort": ["_doc"], "track_total_hits": True, **self._slice(i)}
        r = self.conn.request("POST", f"{index_path(self.info.name)}/_search", body,
                              params={"scroll": self.params.keep_alive}, index=self.info.name,
                              privilege=f"read on index {self.info.name}")
        page = parse_page(r.body, index=self.info.name)
        self.totals[i] = page.total
        self._signal_first(i)
        sid = page.scroll_id
        try:
            while True:
                if sid:
                    self.scroll_ids.add(sid)
                self._check(page, None)
                # stop on an empty page, never on hits.total (some servers report "gte" totals)
                if page.docs == 0 or self.stop.is_set():
                    return
                self._put(page)
                if self.cancel.is_set():
                    return
                r = self.conn.request("POST", "/_search/scroll", {"scroll": self.params.keep_alive,
                                                                  "scroll_id": sid})
                page = parse_page(r.body, index=self.info.name)
                sid = page.scroll_id or sid
        finally:
            if sid:
                try:
                    self.conn.request("DELETE", "/_search/scroll", {"scroll_id": [sid]}, ok=(200, 404),
                                      retry=False)
                except ClusterError:
                    pass  # the scroll expires on its own after keep_alive

    def _run_pit(self, i: int) -> None:
        assert self.conn.dialect is not None
        sort = self.conn.dialect.pit_sort(self.info.shards)
        after = None
        while not self.stop.is_set() and not self.cancel.is_set():
            body: dict[str, Any] = {"size": self.page_docs, "sort": sort,
                                    "track_total_hits": False,
                                    "pit": {"id": self.pit_id, "keep_alive": self.params.keep_alive},
                                    **self._slice(i)}
            if after is not None:
                body["search_after"] = after
            r = self.conn.request("POST", "/_search", body, privilege=f"read on index {self.info.name}")
            page = parse_page(r.body, index=self.info.name)
            self._check(page, None)
            if page.docs == 0:
                return
            self._put(page)
            after = page.last_sort

    # -- consumer ---------------------------------------------------------------------
    def pages(self) -> Iterator[Page]:
        running = len(self.threads)
        while running:
            item = self.q.get()
            if item is _DONE:
                running -= 1
                continue
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stop.set()
        for th in self.threads:
            while th.is_alive():
                try:  # unblock producers waiting on a full queue
                    self.q.get_nowait()
                except queue.Empty:
                    th.join(0.1)
        if self.pit_id and self.conn.dialect:
            m, path, body = self.conn.dialect.pit_close(self.pit_id)
            try:
                self.conn.request(m, path, body, ok=(200, 404), retry=False)
            except ClusterError:
                pass  # expires after keep_alive


@dataclass
class Prepared:
    """What dump_cluster() fetched for many indices at once, before their refresh."""
    states: dict[str, IndexState]
    metadata: dict[str, dict[str, Any]]
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


def dump_index(conn: Connection, writer: Any, info: IndexInfo, params: DumpParams, prepared: Prepared, *,
               previous: Any = None, progress: Callable[[ProgressEvent], None] | None = None,
               cancel: threading.Event | None = None, limiter: RateLimiter | None = None,
               run_totals: list[int] | None = None, warnings: list[str] | None = None,
               data_stream: str | None = None) -> dict[str, Any]:
    """Dump one index into `writer` as stream `indices/<name>`; returns its result entry.
    `prepared` comes from prepare() over the indices of the run."""
    cancel = cancel or threading.Event()
    limiter = limiter or RateLimiter(params.max_docs_per_second)
    run_totals = run_totals if run_totals is not None else [0, 0]
    name = stream_name(info.name)
    t0 = time.monotonic()
    entry: dict[str, Any] = {"docs": 0, "bytes": 0, "duration": 0.0, "skipped_unchanged": False,
                             "error": None, "uuid": info.uuid}

    def emit(phase: str, docs: int, nbytes: int, total: int | None) -> None:
        if progress:
            progress(ProgressEvent(info.name, phase, docs, nbytes, total, run_totals[0], run_totals[1]))

    if info.health == "red":
        raise ClusterError(f"index {info.name} is red (primary shards unassigned): fix the cluster "
                           "(GET _cluster/allocation/explain) or exclude the index")
    if info.name not in prepared.states or info.name not in prepared.metadata:
        raise ClusterError(f"index {info.name} not found (deleted during the backup?)", status=404,
                           error_type="index_not_found_exception")
    state = prepared.states[info.name]
    fp, signals = state.fingerprint, state.signals
    meta: dict[str, Any] = {"index": info.name, "uuid": info.uuid, "format": FORMAT,
                            **prepared.metadata[info.name], "fingerprint": fp,
                            "fingerprint_signals": signals, "shards": info.shards}
    if data_stream:
        meta["data_stream"] = data_stream
    prev = _previous_stream(previous, name)
    # without the refresh, writes acknowledged but not yet searchable would be in the
    # fingerprint and missing from the stream: never reuse then
    if params.skip_unchanged and prev is not None and prev.meta.get("fingerprint") == fp \
            and prev.meta.get("complete") and prev.meta.get("format") == FORMAT and prepared.refreshed:
        reuse_meta = dict(meta, docs=prev.meta.get("docs", 0), complete=True,
                          reused_from=getattr(previous, "id", None), read_mode=prev.meta.get("read_mode"),
                          count_source=prev.meta.get("count_source"), digest=prev.meta.get("digest"))
        try:
            info_ = writer.reuse_stream(name, previous, meta=reuse_meta)
        except Exception as e:  # noqa: BLE001 - e.g. the previous chunks were pruned: read it again
            if warnings is not None:
                warnings.append(f"index {info.name}: could not reuse the previous snapshot's stream ({e}); "
                                "read it again")
        else:
            entry.update(docs=reuse_meta["docs"], bytes=int(getattr(info_, "size", 0) or prev.size or 0),
                         skipped_unchanged=True, duration=time.monotonic() - t0)
            emit("skipped", entry["docs"], entry["bytes"], entry["docs"])
            return entry

    d = conn.dialect
    assert d is not None
    mode = d.default_read_mode if params.read_mode == "auto" else params.read_mode
    if mode == "pit" and not d.supports_pit:
        mode = "scroll"
    reader = _Reader(conn, info, params, mode, cancel, page_docs(params, state.doc_bytes))
    try:
        reader.open()
        mode = reader.mode
        if warnings is not None:
            warnings.extend(reader.notes)
        expected = reader.expected
        meta.update(docs=expected, read_mode=mode, slices=reader.slices, count_source=reader.count_source,
                    page_docs=reader.page_docs, complete=True)
        emit("start", 0, 0, expected)
        counts = [0, 0]
        digest = DocumentDigest()

        def lines() -> Iterator[bytes]:
            for page in reader.pages():
                if cancel.is_set():
                    raise Cancelled(f"dump of {info.name} cancelled")
                limiter.take(page.docs)
                counts[0] += page.docs
                counts[1] += len(page.lines)
                run_totals[0] += page.docs
                run_totals[1] += len(page.lines)
                digest.add_lines(page.lines)
                yield page.lines
                emit("data", counts[0], counts[1], expected)
            if cancel.is_set():
                raise Cancelled(f"dump of {info.name} cancelled")
            if counts[0] != expected:
                # raised inside the stream, so the writer never finishes a short stream
                raise CountMismatch(
                    f"index {info.name}: read {counts[0]} documents but the {reader.count_source} "
                    f"count at the point in time is {expected}: the index changed during the read "
                    "or the server returned incomplete pages; retry the backup")
            meta["digest"] = entry["digest"] = digest.as_meta()  # the stream's meta is stored after this

        info_ = writer.add_stream(name, lines(), meta=meta)
    finally:
        reader.close()
    entry.update(docs=counts[0], bytes=int(getattr(info_, "size", counts[1]) or counts[1]),
                 duration=time.monotonic() - t0, read_mode=mode, slices=reader.slices)
    emit("done", counts[0], counts[1], expected)
    return entry


def _previous_stream(previous: Any, name: str) -> Any:
    if previous is None:
        return None
    return (getattr(previous, "streams", None) or {}).get(name)


def dump_cluster(conn: Connection, writer: Any, params: DumpParams | None = None, *,
                 previous: Any = None, progress: Callable[[ProgressEvent], None] | None = None,
                 cancel: threading.Event | None = None) -> DumpResult:
    """Dump the selected indices of `conn` into `writer` (see docs/engine-interface.md).

    An index that fails is recorded with its error and the others go on; `ok` is False
    when any index failed. The caller commits the writer."""
    params = params or DumpParams()
    cancel = cancel or threading.Event()
    if conn.dialect is None:
        conn.identify()
    limiter = RateLimiter(params.max_docs_per_second)
    run_totals = [0, 0]
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
    for info in selected:
        if cancel.is_set():
            result.indices[info.name] = {"docs": 0, "bytes": 0, "duration": 0.0, "skipped_unchanged": False,
                                         "error": "cancelled"}
            result.ok = False
            continue
        if info.status != "open":
            msg = (f"index {info.name} is closed and was not backed up: open it "
                   f"(POST /{info.name}/_open) or exclude it")
            result.indices[info.name] = {"docs": 0, "bytes": 0, "duration": 0.0, "skipped_unchanged": False,
                                         "closed": True, "error": msg if params.fail_on_closed else None}
            result.warnings.append(msg)
            if params.fail_on_closed:
                result.ok = False
            if progress:
                progress(ProgressEvent(info.name, "skipped", 0, 0, 0, run_totals[0], run_totals[1]))
            continue
        t0 = time.monotonic()
        try:
            result.indices[info.name] = dump_index(conn, writer, info, params, prepared, previous=previous,
                                                   progress=progress, cancel=cancel, limiter=limiter,
                                                   run_totals=run_totals, warnings=result.warnings,
                                                   data_stream=backing.get(info.name))
        except (ClusterError, Cancelled) as e:
            result.ok = False
            result.indices[info.name] = {"docs": 0, "bytes": 0, "duration": time.monotonic() - t0,
                                         "skipped_unchanged": False, "error": str(e)}
            if progress:
                progress(ProgressEvent(info.name, "failed", 0, 0, None, run_totals[0], run_totals[1]))
    return result
