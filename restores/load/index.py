"""Load one index of a snapshot: make its target ready (create it, or apply the conflict
policy; a backing index goes into its data stream), send its stream in parallel `_bulk`
requests, put its settings and aliases back, refresh and verify the count."""
from __future__ import annotations

import fnmatch
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.dump import Cancelled
from backups.elastic.results import ProgressEvent, RunTotals
from restores import rules
from restores.load.bulk import Batch, Batches, BulkSender, FirstAhead, split_lines
from restores.load.params import IndexLoaded, LoadParams
from restores.load.settings import PutBack, create_index, load_settings, restore_settings
from restores.rename import Renamer

Chunks = Callable[[], Iterable[bytes]]


def policy_for(target: str, params: LoadParams) -> str:
    for pattern, policy in params.conflict_per_index.items():
        if fnmatch.fnmatchcase(target, pattern):
            return policy
    return params.conflict


@dataclass
class _Target:
    """Where an index's documents go once it is ready; `put_back` when this load created it."""
    op: str = "index"                  # "index", or "create" into a data stream
    write_to: str = ""
    put_back: PutBack | None = None
    skipped: str = ""                  # "exists" | "data stream exists": nothing to load


@dataclass
class _Progress:
    """The documents and bytes of one index as its `_bulk` answers come, passed on as
    events to LoadParams.progress (from the senders' threads)."""
    index: str
    expected: int
    totals: RunTotals
    progress: Callable[[ProgressEvent], None] | None
    docs: int = 0
    bytes: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def emit(self, phase: str) -> None:
        if self.progress:
            self.progress(ProgressEvent(self.index, phase, self.docs, self.bytes, self.expected,
                                        self.totals.docs, self.totals.bytes))

    def ack(self, docs: int, nbytes: int) -> None:
        with self._lock:
            self.docs += docs
            self.bytes += nbytes
            run_docs, run_bytes = self.totals.add(docs, nbytes)
            if self.progress:
                self.progress(ProgressEvent(self.index, "data", self.docs, self.bytes, self.expected,
                                            run_docs, run_bytes))


class _IndexLoad:
    def __init__(self, conn: Connection, source: str, target: str, meta: Mapping[str, Any], params: LoadParams,
                 rename: Renamer, cancel: threading.Event, warnings: list[str], totals: RunTotals) -> None:
        self.conn, self.source, self.target, self.meta = conn, source, target, meta
        self.params, self.cancel, self.warnings = params, cancel, warnings
        self.expected = int(meta.get("docs") or 0)
        self.ds = rename(meta["data_stream"]) if meta.get("data_stream") else ""
        self.policy = policy_for(self.ds or target, params)
        if self.policy not in rules.CONFLICT_POLICIES:
            raise ValueError(f"conflict policy {self.policy!r} is not one of {', '.join(rules.CONFLICT_POLICIES)}")
        if params.on_index_failure not in rules.ON_INDEX_FAILURE:
            raise ValueError(f"on_index_failure {params.on_index_failure!r} is not one of "
                             f"{', '.join(rules.ON_INDEX_FAILURE)}")
        self.live = _Progress(target, self.expected, totals, params.progress)
        self.sent = 0
        self.sender: BulkSender | None = None
        self.read = 0

    def prepare(self, data_streams: dict[str, str]) -> _Target:
        if self.ds:
            # a backing index restores into its data stream (documents are created through the
            # stream; the stream makes its own backing indices)
            state = ensure_data_stream(self.conn, self.ds, self.policy, data_streams)
            return _Target("create", self.ds, skipped="data stream exists" if state == "skip" else "")
        if not _exists(self.conn, self.target):
            return _Target(write_to=self.target, put_back=create_index(self.conn, self.target, self.meta, self.warnings))
        if self.policy == "fail":
            raise ClusterError(f"index {self.target} already exists in the target cluster: choose the conflict "
                               "policy skip, overwrite or merge, or rename the restored index")
        if self.policy == "skip":
            return _Target(write_to=self.target, skipped="exists")
        if self.policy == "overwrite":
            self.conn.request("DELETE", index_path(self.target), index=self.target,
                              privilege=f"delete_index on {self.target}")
            return _Target(write_to=self.target, put_back=create_index(self.conn, self.target, self.meta, self.warnings))
        return _Target(write_to=self.target)  # merge

    def continued(self, earlier: dict[str, Any]) -> _Target | None:
        """The target an earlier attempt of this restore made ready and began loading
        (restores/load/resume.py); None when it is gone (then it is prepared again)."""
        if self.ds or not _exists(self.conn, self.target):
            return None
        put_back = load_settings(self.meta.get("settings") or {})[1] if earlier.get("created") else None
        return _Target(write_to=self.target, put_back=put_back)

    def still_complete(self) -> IndexLoaded | None:
        """An index an earlier attempt verified, if its count still is the manifest's."""
        if self.ds or not _exists(self.conn, self.target):
            return None
        count = int(self.conn.json("GET", f"{index_path(self.target)}/_count", index=self.target)["count"])
        if count != self.expected:
            return None
        self.live.docs = self.expected    # done, by an earlier attempt: the run's progress says so
        self.live.totals.add(self.expected, 0)
        self.live.emit("done")
        return IndexLoaded(self.source, "Succeeded", self.expected, 0, 0, count=count, resumed="verified")

    def read_ahead(self, chunks: Chunks) -> FirstAhead[Batch]:
        """The index's bulks, the first read and built on another thread from now on: while
        the target is made ready (created, its shards started), not after."""
        p = self.params
        self.batches = Batches(split_lines(chunks()), op="create" if self.ds else "index", bulk_bytes=p.bulk_bytes,
                               bulk_docs=p.bulk_docs)
        return FirstAhead(iter(self.batches))

    def send_all(self, dest: _Target, batches: FirstAhead[Batch]) -> None:
        p = self.params
        self.sender = BulkSender(self.conn, dest.write_to, op=dest.op, workers=p.workers,
                                 max_item_retries=p.max_item_retries, cancel=self.cancel, on_ack=self.live.ack)
        try:
            with self.sender:
                for batch in batches:
                    if self.cancel.is_set():
                        raise Cancelled(f"restore of {self.target} cancelled")
                    if self.sender.fatal is not None:
                        break
                    self.sender.q.put(batch)
                    self.sent += len(batch.body)
        finally:
            batches.close()
            self.read = self.batches.read
        if self.sender.fatal is not None:
            raise self.sender.fatal

    @property
    def indexed(self) -> int:
        return self.sender.indexed if self.sender else 0

    def result(self, status: str, dest: _Target, **kw: Any) -> IndexLoaded:
        s = self.sender
        if s is not None and s.window.cuts:
            kw.update(backoffs=s.window.cuts, fewest_senders=s.window.lowest)
        return IndexLoaded(self.source, status, self.expected, self.indexed, self.sent, s.failed if s else 0,
                           tuple(s.reasons) if s else (), data_stream=self.ds, **kw)

    def finish(self, dest: _Target, rename: Renamer) -> IndexLoaded:
        """Settings and aliases back, then the count checked against the manifest."""
        if dest.put_back is not None:
            restore_settings(self.conn, self.target, dest.put_back)
        if self.params.restore_aliases and not self.ds:
            _aliases(self.conn, self.target, self.meta.get("aliases") or {}, rename)
        count = None
        if not self.ds:
            self.conn.request("POST", f"{index_path(self.target)}/_refresh", index=self.target)
            count = int(self.conn.json("GET", f"{index_path(self.target)}/_count", index=self.target)["count"])
        errors = self.errors(dest, count)
        self.live.emit("failed" if errors else "done")
        return self.result("Failed" if errors else "Succeeded", dest, error="; ".join(errors) or None, count=count)

    def errors(self, dest: _Target, count: int | None) -> list[str]:
        failed = self.sender.failed if self.sender else 0
        errors = []
        if self.read != self.expected:
            errors.append(f"the snapshot stream holds {self.read} documents but its manifest says {self.expected}: "
                          "the repository is damaged (run a check with read_data)")
        if failed:
            reasons = "; ".join(self.sender.reasons) if self.sender else ""
            errors.append(f"{failed} documents could not be indexed into {self.target} (first reasons: {reasons})")
        if self.params.verify and not failed and self.ds and self.indexed != self.expected:
            errors.append(f"data stream {self.ds} acknowledged {self.indexed} of the {self.expected} documents "
                          f"of {self.source}")
        if self.params.verify and not failed and count is not None:
            merged = self.policy == "merge" and dest.put_back is None
            if not (count >= self.expected if merged else count == self.expected):
                errors.append(f"index {self.target} holds {count} documents after the restore, the snapshot has "
                              f"{self.expected}: documents were lost or the index was written to during the restore")
        return errors

    def failed_partway(self, dest: _Target, error: BaseException) -> IndexLoaded:
        """An index whose load began and failed: put back what the load changed (refresh,
        replicas 0), or delete the index when this restore created it and the task asks so;
        the error says which. An existing index merged into is never deleted, nor a data
        stream (other backing indices of the snapshot may already be in it)."""
        left, note = "kept", ""
        docs = self.indexed
        if self.ds:
            note = f"data stream {self.ds} keeps the {docs} documents written before the failure"
        elif dest.put_back is not None and self.params.on_index_failure == "delete":
            left, note = self._delete_partial()
        elif dest.put_back is not None:
            note = self._keep_partial(dest.put_back, docs)
        else:
            note = f"the existing index {self.target} keeps the {docs} documents merged before the failure"
        self.live.emit("failed")
        first = f"{type(error).__name__}: {error}" if not str(error) else str(error)
        return self.result("Failed", dest, error="; ".join([first, note]), left=left)

    def _delete_partial(self) -> tuple[str, str]:
        try:
            self.conn.request("DELETE", index_path(self.target), ok=(200, 404), index=self.target,
                              privilege=f"delete_index on {self.target}")
            return "deleted", f"the partial index {self.target} was deleted (on_index_failure: delete)"
        except ClusterError as e:
            return "kept", f"the partial index {self.target} could not be deleted ({e}): delete it by hand"

    def _keep_partial(self, put_back: PutBack, docs: int) -> str:
        try:
            restore_settings(self.conn, self.target, put_back)
            return (f"the partial index {self.target} was kept with {docs} of {self.expected} documents, its "
                    "refresh_interval and replicas put back: delete it, or restore again with conflict overwrite")
        except ClusterError as e:
            return (f"the partial index {self.target} was kept, but its settings could not be put back ({e}): "
                    "it still has 0 replicas and the default refresh_interval; delete it, or set them by hand")


def load_index(conn: Connection, source: str, target: str, meta: Mapping[str, Any], chunks: Chunks,
               params: LoadParams, rename: Renamer, *, cancel: threading.Event, warnings: list[str],
               totals: RunTotals | None = None, data_streams: dict[str, str] | None = None) -> IndexLoaded:
    """Load stream `chunks` of index `source` into `target`. Raises when the target cannot
    be made ready (the conflict policy refuses, the cluster answers an error); a load that
    began and failed is returned as Failed, with what was left behind."""
    t0 = time.monotonic()
    job = _IndexLoad(conn, source, target, meta, params, rename, cancel, warnings, totals or RunTotals())
    resume = params.resume
    if resume is not None and resume.verified(target):
        complete = job.still_complete()
        if complete is not None:
            return _timed(complete, t0)
    batches = job.read_ahead(chunks)
    try:
        earlier = resume.indices.get(target) if resume is not None else None
        dest = job.continued(earlier) if earlier is not None else None
        continued = dest is not None
        if dest is None:
            dest = job.prepare(data_streams if data_streams is not None else {})
    except BaseException:
        batches.close()
        raise
    if dest.skipped:
        batches.close()
        job.live.emit("skipped")
        return IndexLoaded(source, "Skipped", job.expected, data_stream=job.ds, skipped=dest.skipped)
    if resume is not None and not job.ds and not continued:
        resume.started(target, created=dest.put_back is not None)
    job.live.emit("start")
    try:
        job.send_all(dest, batches)
    except Exception as e:  # noqa: BLE001 - a corrupt chunk, the cluster gone, a cancel: this index only
        done = job.failed_partway(dest, e)
    else:
        done = job.finish(dest, rename)
        if resume is not None and not job.ds and done.status == "Succeeded":
            resume.done(target, done.count)
    return _timed(replace(done, resumed="continued") if continued else done, t0)


def _timed(done: IndexLoaded, t0: float) -> IndexLoaded:
    return replace(done, duration=time.monotonic() - t0)


def _exists(conn: Connection, name: str) -> bool:
    r = conn.request("HEAD", index_path(name), ok=(200, 404))
    return r.status == 200


def _aliases(conn: Connection, target: str, aliases: dict[str, Any], rename: Renamer) -> None:
    actions = []
    for alias, spec in rename.aliases(aliases).items():
        add = {"index": target, "alias": alias}
        for k in ("filter", "index_routing", "search_routing", "routing", "is_write_index", "is_hidden"):
            if k in (spec or {}):
                add[k] = spec[k]
        actions.append({"add": add})
    if actions:
        conn.request("POST", "/_aliases", {"actions": actions},
                     privilege=f"manage on index {target} and the aliases")
def ensure_data_stream(conn: Connection, name: str, policy: str, state: dict[str, str]) -> str:
    """Make data stream `name` ready once per restore; returns "created", "merge" or "skip"."""
    if name in state:
        return state[name]
    path = f"/_data_stream/{name}"
    def unsupported(e: ClusterError) -> ClusterError:
        d = conn.dialect
        assert d is not None
        return ClusterError(f"the target cluster ({d.distribution} {d.version_string}) has no data streams, "
                            f"so data stream {name} cannot be restored ({e}): restore into a cluster that has "
                            "them (Elasticsearch 7.9+, OpenSearch 1.0+) or exclude it")

    try:
        r = conn.request("GET", path, ok=(200, 404), privilege="view_index_metadata on the data stream")
    except ClusterError as e:
        if e.endpoint_missing:
            raise unsupported(e) from e
        raise
    if r.status == 200:
        if policy == "fail":
            raise ClusterError(f"data stream {name} already exists in the target cluster: choose the conflict "
                               "policy skip, overwrite or merge, or rename the restored data stream")
        if policy in ("skip", "merge"):
            state[name] = policy
            return policy
        conn.request("DELETE", path, privilege=f"delete_index on data stream {name}")
    try:
        conn.request("PUT", path, privilege=f"create_index on data stream {name}")
    except ClusterError as e:
        if e.endpoint_missing:
            raise unsupported(e) from e
        raise ClusterError(f"cannot create data stream {name}: {e}. Restore its index template too "
                           "(metadata kind index_templates) or create one with data_stream enabled") from e
    state[name] = "created"
    return "created"


