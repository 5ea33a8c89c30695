"""Load a snapshot into a cluster (the restore half of the streaming engine, no Django).

Order: cluster metadata (component templates → index templates → legacy templates →
ingest pipelines → lifecycle policies, as chosen) → per index: create with settings and
mappings (replicas 0, refresh -1 during the load) → parallel `_bulk` bounded in bytes →
restore replicas/refresh → aliases → refresh and verify the count.

Nothing is silently lost: throttling (429), 502/503/504 and connection errors are retried
with backoff and jitter, rejected items are resent, and items that can never index are
counted, reported with the first reasons, and fail the index.
"""
from __future__ import annotations

import copy
import fnmatch
import functools
import queue
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.dump import STREAM_PREFIX, Cancelled, ProgressEvent
from backups.elastic.metadata import CLUSTER_KINDS, nothing_matches
from restores import rules
from restores.rename import Renamer
from storage.repo.format import RepositoryError

RETRY_ITEM_STATUSES = frozenset({429, 502, 503, 504})
MAX_REASONS = 5

# Settings Elasticsearch/OpenSearch set themselves and refuse on create.
_DROP_SETTINGS = (
    "uuid", "creation_date", "creation_date_string", "version", "provided_name", "resize",
    "routing.allocation.initial_recovery", "verified_before_close", "history_uuid", "shrink",
    "frozen", "search.throttled",
)

_LINE = re.compile(rb'\{"_id":("(?:[^"\\]|\\.)*")(?:,"_routing":("(?:[^"\\]|\\.)*"))?,"_source":')
_UNKNOWN_SETTING = re.compile(r"(?:unknown setting|private index setting|archived setting) \[([^\]]+)\]")


@dataclass
class LoadParams:
    include: list[str] = field(default_factory=lambda: ["*"])       # source index names
    exclude: list[str] = field(default_factory=list)
    rename_pattern: str = ""                                         # regex on names
    rename_replacement: str = ""
    conflict: str = "fail"                                           # fail | skip | overwrite | merge
    conflict_per_index: dict[str, str] = field(default_factory=dict)  # target pattern -> policy
    metadata_kinds: tuple[str, ...] = CLUSTER_KINDS                  # () for data only
    include_managed_templates: bool = False                          # dot-named / _meta.managed
    restore_aliases: bool = True
    workers: int = 2                                                 # parallel _bulk senders
    bulk_bytes: int = 10 * 1024 * 1024
    bulk_docs: int = 0                                               # 0: bounded by bytes only
    max_item_retries: int = 10
    verify: bool = True
    # An index this restore created (new, or recreated by overwrite) that failed partway:
    # keep it (its refresh_interval and replicas put back) or delete it.
    on_index_failure: str = "keep"                                   # keep | delete


@dataclass
class LoadResult:
    indices: dict[str, dict[str, Any]]
    metadata: dict[str, dict[str, str]]
    ok: bool
    warnings: list[str] = field(default_factory=list)


# -- settings -------------------------------------------------------------------------
def _delete_path(d: dict[str, Any], dotted: str) -> bool:
    """Remove a setting given flat ("a.b.c") from a nested or partly flat dict."""
    if dotted in d:
        del d[dotted]
        return True
    head, _, rest = dotted.partition(".")
    for k in list(d):
        if not rest or not isinstance(d[k], dict):
            continue
        # nested ("routing": {"allocation": …}) or partly flat ("routing.allocation": {…})
        sub = rest if k == head else dotted[len(k) + 1:] if dotted.startswith(k + ".") else None
        if sub is not None and _delete_path(d[k], sub):
            if not d[k]:
                del d[k]
            return True
    return False


def creatable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's settings minus what the cluster sets itself."""
    s = copy.deepcopy(settings or {})
    index = s.get("index", s)
    for key in _DROP_SETTINGS:
        _delete_path(index, key)
    return s


def _get(settings: dict[str, Any], key: str) -> Any:
    index = settings.get("index", settings)
    if key in index:
        return index[key]
    cur: Any = index
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


# -- bulk -----------------------------------------------------------------------------
@dataclass
class _Batch:
    body: bytes
    offsets: list[int]            # item k is body[offsets[k]:offsets[k+1]]
    attempt: int = 0

    @property
    def n(self) -> int:
        return len(self.offsets) - 1

    def item(self, k: int) -> bytes:
        return self.body[self.offsets[k]:self.offsets[k + 1]]


def _items(batch: _Batch, ks: Iterable[int]) -> _Batch:
    parts, offsets, pos = [], [0], 0
    for k in ks:
        it = batch.item(k)
        parts.append(it)
        pos += len(it)
        offsets.append(pos)
    return _Batch(b"".join(parts), offsets, batch.attempt + 1)


def _id_of(item: bytes) -> str:
    m = re.match(rb'\{"(?:index|create)":\{"_id":("(?:[^"\\]|\\.)*")', item)
    return orjson.loads(m.group(1)) if m else "?"


class _IndexLoad:
    def __init__(self, conn: Connection, target: str, params: LoadParams, cancel: threading.Event,
                 op: str = "index") -> None:
        self.conn, self.target, self.params, self.cancel = conn, target, params, cancel
        self.op = op
        self.path = index_path(target) + "/_bulk"
        # memory: workers sending + this many built ahead, each up to bulk_bytes
        self.q: queue.Queue[_Batch | None] = queue.Queue(maxsize=max(1, params.workers // 2))
        self.lock = threading.Lock()
        self.indexed = 0
        self.failed = 0
        self.reasons: list[str] = []
        self.fatal: BaseException | None = None

    def _fail(self, ids_reasons: list[tuple[str, str]]) -> None:
        with self.lock:
            self.failed += len(ids_reasons)
            for _id, reason in ids_reasons:
                if len(self.reasons) < MAX_REASONS:
                    self.reasons.append(f"{_id}: {reason}")

    def send(self, batch: _Batch) -> None:
        while batch.n:
            if self.cancel.is_set():
                raise Cancelled(f"restore of {self.target} cancelled")
            try:
                r = self.conn.request("POST", self.path, raw=batch.body, ctype="application/x-ndjson",
                                      index=self.target, privilege=f"write (or index) on index {self.target}")
            except ClusterError as e:
                if e.status == 413 and batch.n > 1:
                    # larger than the server's http.max_content_length: halve and go on
                    half = batch.n // 2
                    self.send(_items(batch, range(half)))
                    batch = _items(batch, range(half, batch.n))
                    continue
                if e.permanent:
                    self._fail([(_id_of(batch.item(k)), str(e)) for k in range(batch.n)])
                    return
                raise  # retries exhausted: the index fails, nothing is counted as done
            doc = orjson.loads(r.body)
            if not doc.get("errors"):
                with self.lock:
                    self.indexed += batch.n
                return
            if len(doc.get("items") or []) != batch.n:
                raise ClusterError(f"_bulk into {self.target} answered {len(doc.get('items') or [])} items "
                                   f"for {batch.n} sent: the server is misbehaving; retry the restore")
            retry, bad, good = [], [], 0
            for k, it in enumerate(doc.get("items") or []):
                res = next(iter(it.values()))
                status = int(res.get("status", 500))
                if status < 300 or (status == 409 and self.op == "create"):
                    # a create that conflicts was already written (its answer was lost or
                    # rejected after the fact): resent items into a data stream are not lost
                    good += 1
                    continue
                err = res.get("error") or {}
                etype = err.get("type", "") if isinstance(err, dict) else ""
                if status in RETRY_ITEM_STATUSES or etype == "es_rejected_execution_exception":
                    retry.append(k)
                else:
                    reason = (f"{etype}: {err.get('reason', '')}" if isinstance(err, dict) else str(err))
                    cb = err.get("caused_by") if isinstance(err, dict) else None
                    if isinstance(cb, dict) and cb.get("reason"):
                        reason += f" (caused by: {cb.get('type', '')}: {cb['reason']})"
                    bad.append((res.get("_id") or _id_of(batch.item(k)), f"HTTP {status} {reason}"))
            with self.lock:
                self.indexed += good
            if bad:
                self._fail(bad)
            if not retry:
                return
            batch = _items(batch, retry)
            if batch.attempt > self.params.max_item_retries:
                why = (f"still rejected (429/503) after {self.params.max_item_retries} retries: the "
                       "cluster is overloaded; lower the restore's workers or bulk size")
                self._fail([(_id_of(batch.item(k)), why) for k in range(batch.n)])
                return
            self.conn.backoff(batch.attempt)

    def worker(self) -> None:
        while True:
            batch = self.q.get()
            if batch is None:
                return
            if self.fatal is not None:
                continue  # drain
            try:
                self.send(batch)
            except BaseException as e:
                with self.lock:
                    if self.fatal is None:
                        self.fatal = e


def _batches(lines: Iterator[bytes], params: LoadParams, counter: list[int], op: str = "index") -> Iterator[_Batch]:
    """Bulk bodies from dump lines, without parsing `_source`."""
    parts: list[bytes] = []
    offsets = [0]
    pos = 0
    limit_docs = params.bulk_docs or 1 << 62
    op_b = op.encode()
    for line in lines:
        if not line:
            continue
        m = _LINE.match(line)
        if m is None or not line.endswith(b"}"):
            raise ValueError(f"snapshot stream line {counter[0] + 1} is not a dump line: {line[:120]!r}")
        rid = m.group(2)
        action = (b'{"' + op_b + b'":{"_id":' + m.group(1) + (b',"routing":' + rid if rid else b"") + b"}}\n")
        src = line[m.end():-1]
        parts.append(action)
        parts.append(src)
        parts.append(b"\n")
        pos += len(action) + len(src) + 1
        offsets.append(pos)
        counter[0] += 1
        if pos >= params.bulk_bytes or len(offsets) > limit_docs:
            yield _Batch(b"".join(parts), offsets)
            parts, offsets, pos = [], [0], 0
    if len(offsets) > 1:
        yield _Batch(b"".join(parts), offsets)


def split_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        buf = rest + chunk if rest else bytes(chunk)
        lines = buf.split(b"\n")
        rest = lines.pop()
        yield from lines
    if rest:
        yield rest


# -- per index ------------------------------------------------------------------------
def _exists(conn: Connection, name: str) -> bool:
    r = conn.request("HEAD", index_path(name), ok=(200, 404))
    return r.status == 200


def _create(conn: Connection, target: str, meta: dict[str, Any], warnings: list[str]) -> dict[str, Any]:
    """Create the index for a load; returns the settings to put back afterwards."""
    settings = creatable_settings(meta.get("settings") or {})
    replicas = _get(settings, "number_of_replicas")
    after: dict[str, Any] = {
        # a snapshot written by hand or another tool may hold the integer 0: keep it
        "number_of_replicas": 1 if replicas is None else replicas,
        "refresh_interval": _get(settings, "refresh_interval"),
    }
    blocks = _get(settings, "blocks")
    if blocks:
        after["blocks"] = blocks
        _delete_path(settings.get("index", settings), "blocks")
    index = settings.setdefault("index", {}) if "index" in settings or not settings else settings
    _delete_path(index, "number_of_replicas")
    _delete_path(index, "refresh_interval")
    index["number_of_replicas"] = 0
    index["refresh_interval"] = "-1"
    body = {"settings": settings, "mappings": meta.get("mappings") or {}}
    for _ in range(50):
        try:
            conn.request("PUT", index_path(target), body, index=target,
                         privilege=f"create_index (or manage) on index {target}")
            break
        except ClusterError as e:
            m = _UNKNOWN_SETTING.search(str(e))
            if e.status == 400 and m and _delete_path(settings.get("index", settings),
                                                       m.group(1).removeprefix("index.")):
                # another version or distribution: drop what it cannot set, say so
                warnings.append(f"{target}: setting {m.group(1)} dropped: the target cluster refuses it")
                continue
            raise
    try:
        conn.request("GET", f"/_cluster/health/{target}", params={"wait_for_status": "yellow", "timeout": "60s"})
    except ClusterError:
        pass  # not every server implements per-index health; the bulk retries cover a slow start
    return after


def _restore_settings(conn: Connection, target: str, after: dict[str, Any]) -> None:
    body = {"index": {"number_of_replicas": after["number_of_replicas"],
                      "refresh_interval": after["refresh_interval"]}}
    if after.get("blocks"):
        body["index"]["blocks"] = after["blocks"]
    conn.request("PUT", f"{index_path(target)}/_settings", body, index=target,
                 privilege=f"manage on index {target}")


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


def _ensure_data_stream(conn: Connection, name: str, policy: str, state: dict[str, str]) -> str:
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


def _policy_for(target: str, params: LoadParams) -> str:
    for pattern, policy in params.conflict_per_index.items():
        if fnmatch.fnmatchcase(target, pattern):
            return policy
    return params.conflict


def load_index(conn: Connection, source: str, target: str, meta: dict[str, Any], chunks: Callable[[], Iterable[bytes]],
               params: LoadParams, rename: Renamer, *, cancel: threading.Event,
               progress: Callable[[ProgressEvent], None] | None, warnings: list[str],
               run_totals: list[int] | None = None, data_streams: dict[str, str] | None = None) -> dict[str, Any]:
    t0 = time.monotonic()
    expected = int(meta.get("docs") or 0)
    entry: dict[str, Any] = {"source": source, "docs": 0, "failed": 0, "failures": [], "duration": 0.0,
                             "error": None, "status": "Running", "expected": expected}
    ds = rename(meta["data_stream"]) if meta.get("data_stream") else None
    policy = _policy_for(ds or target, params)
    if policy not in rules.CONFLICT_POLICIES:
        raise ValueError(f"conflict policy {policy!r} is not one of {', '.join(rules.CONFLICT_POLICIES)}")
    if params.on_index_failure not in rules.ON_INDEX_FAILURE:
        raise ValueError(f"on_index_failure {params.on_index_failure!r} is not one of {', '.join(rules.ON_INDEX_FAILURE)}")
    after = None
    op, write_to = "index", target
    if ds is not None:
        # a backing index restores into its data stream (documents are created through the
        # stream; the stream makes its own backing indices)
        entry["data_stream"] = ds
        state = _ensure_data_stream(conn, ds, policy, data_streams if data_streams is not None else {})
        if state == "skip":
            entry.update(status="Skipped", error=None, skipped="data stream exists")
            return entry
        op, write_to = "create", ds
    elif _exists(conn, target):
        if policy == "fail":
            raise ClusterError(f"index {target} already exists in the target cluster: choose the conflict "
                               "policy skip, overwrite or merge, or rename the restored index")
        if policy == "skip":
            entry.update(status="Skipped", error=None, skipped="exists")
            return entry
        if policy == "overwrite":
            conn.request("DELETE", index_path(target), index=target, privilege=f"delete_index on {target}")
            after = _create(conn, target, meta, warnings)
    else:
        after = _create(conn, target, meta, warnings)

    job = _IndexLoad(conn, write_to, params, cancel, op=op)
    workers = [threading.Thread(target=job.worker, name=f"load-{target}-{i}", daemon=True)
               for i in range(max(1, params.workers))]
    for w in workers:
        w.start()
    read = [0]
    sent_bytes = 0
    run = run_totals if run_totals is not None else [0, 0]
    try:
        try:
            for batch in _batches(split_lines(chunks()), params, read, op):
                if cancel.is_set():
                    raise Cancelled(f"restore of {target} cancelled")
                if job.fatal is not None:
                    break
                job.q.put(batch)
                sent_bytes += len(batch.body)
                if progress:
                    progress(ProgressEvent(target, "data", job.indexed, sent_bytes, expected,
                                           run[0] + job.indexed, run[1] + sent_bytes))
        finally:
            for _ in workers:
                job.q.put(None)
            for w in workers:
                w.join()
        if job.fatal is not None:
            raise job.fatal
    except Exception as e:  # noqa: BLE001 - a corrupt chunk, the cluster gone, a cancel: this index only
        entry.update(docs=job.indexed, bytes=sent_bytes, failed=job.failed, failures=job.reasons)
        _failed_partway(conn, target, ds, after, entry, e, params)
        entry["duration"] = time.monotonic() - t0
        run[0] += job.indexed
        run[1] += sent_bytes
        if progress:
            progress(ProgressEvent(target, "failed", job.indexed, sent_bytes, expected, run[0], run[1]))
        return entry
    entry.update(docs=job.indexed, bytes=sent_bytes, failed=job.failed, failures=job.reasons)
    if after is not None:
        _restore_settings(conn, target, after)
    if params.restore_aliases and ds is None:
        _aliases(conn, target, meta.get("aliases") or {}, rename)
    count = expected
    if ds is None:
        conn.request("POST", f"{index_path(target)}/_refresh", index=target)
        count = int(conn.json("GET", f"{index_path(target)}/_count", index=target)["count"])
        entry["count"] = count
    errors = []
    if read[0] != expected:
        errors.append(f"the snapshot stream holds {read[0]} documents but its manifest says {expected}: "
                      "the repository is damaged (run a check with read_data)")
    if job.failed:
        errors.append(f"{job.failed} documents could not be indexed into {target} "
                      f"(first reasons: {'; '.join(job.reasons)})")
    if params.verify and not job.failed and ds is not None and job.indexed != expected:
        errors.append(f"data stream {ds} acknowledged {job.indexed} of the {expected} documents of {source}")
    if params.verify and not job.failed and ds is None:
        ok = count >= expected if policy == "merge" and after is None else count == expected
        if not ok:
            errors.append(f"index {target} holds {count} documents after the restore, the snapshot has "
                          f"{expected}: documents were lost or the index was written to during the restore")
    entry["error"] = "; ".join(errors) or None
    entry["status"] = "Failed" if errors else "Succeeded"
    entry["duration"] = time.monotonic() - t0
    run[0] += job.indexed
    run[1] += sent_bytes
    if progress:
        progress(ProgressEvent(target, "done" if not errors else "failed", job.indexed, sent_bytes, expected,
                               run[0], run[1]))
    return entry


def _failed_partway(conn: Connection, target: str, ds: str | None, after: dict[str, Any] | None,
                    entry: dict[str, Any], error: BaseException, params: LoadParams) -> None:
    """An index whose load began and failed: put back what the load changed (refresh -1,
    replicas 0), or delete the index when this restore created it and the task asks so;
    the entry's error says which. An existing index merged into is never deleted, nor a
    data stream (other backing indices of the snapshot may already be in it)."""
    notes = []
    entry.update(status="Failed", partial=True)
    if ds is not None:
        entry["left"] = "kept"
        notes.append(f"data stream {ds} keeps the {entry['docs']} documents written before the failure")
    elif after is not None and params.on_index_failure == "delete":
        try:
            conn.request("DELETE", index_path(target), ok=(200, 404), index=target,
                         privilege=f"delete_index on {target}")
            entry["left"] = "deleted"
            notes.append(f"the partial index {target} was deleted (on_index_failure: delete)")
        except ClusterError as e:
            entry["left"] = "kept"
            notes.append(f"the partial index {target} could not be deleted ({e}): delete it by hand")
    else:
        entry["left"] = "kept"
        if after is not None:
            try:
                _restore_settings(conn, target, after)
                notes.append(f"the partial index {target} was kept with {entry['docs']} of {entry['expected']} "
                             "documents, its refresh_interval and replicas put back: delete it, or restore "
                             "again with conflict overwrite")
            except ClusterError as e:
                notes.append(f"the partial index {target} was kept, but its settings could not be put back "
                             f"({e}): it still has refresh_interval -1 and 0 replicas; delete it, or set them by hand")
        else:
            notes.append(f"the existing index {target} keeps the {entry['docs']} documents merged before the failure")
    entry["error"] = "; ".join([f"{type(error).__name__}: {error}" if not str(error) else str(error), *notes])


# -- cluster metadata -----------------------------------------------------------------
def _managed(name: str, body: dict[str, Any]) -> bool:
    meta = body.get("_meta") or {}
    return name.startswith(".") or bool(isinstance(meta, dict) and meta.get("managed"))


def load_cluster_metadata(conn: Connection, cluster_meta: dict[str, Any], params: LoadParams,
                          rename: Renamer) -> dict[str, dict[str, str]]:
    """Restore the chosen kinds; {kind: {name: "restored" | "skipped: …" | "error: …"}}."""
    d = conn.dialect
    assert d is not None
    out: dict[str, dict[str, str]] = {}
    order = [k for k in CLUSTER_KINDS if k in params.metadata_kinds]
    for kind in order:
        src = cluster_meta.get(kind) or {}
        res: dict[str, str] = {}
        out[kind] = res
        if "unsupported" in src:
            res["*"] = f"skipped: unsupported by the source cluster ({src['unsupported'][:200]})"
            continue
        items = src.get("items") or {}
        if kind == "lifecycle_policies" and items and src.get("flavor") != d.lifecycle_kind:
            res["*"] = (f"skipped: {src.get('flavor')} cannot be restored into {d.distribution} "
                        f"(which uses {d.lifecycle_kind}); recreate them by hand")
            continue
        for name, body in items.items():
            if not params.include_managed_templates and _managed(name, body if isinstance(body, dict) else {}):
                res[name] = "skipped: managed by the cluster"
                continue
            if kind == "component_templates":
                method, path, b = "PUT", f"/_component_template/{name}", rename.template(body)
            elif kind == "index_templates":
                method, path, b = "PUT", f"/_index_template/{name}", rename.template(body)
            elif kind == "legacy_templates":
                method, path, b = "PUT", f"/_template/{name}", rename.template(body)
            elif kind == "ingest_pipelines":
                method, path, b = "PUT", f"/_ingest/pipeline/{name}", body
            else:
                b = rename.policy(body)
                pol = dict(b.get("policy") or {})
                for k in ("policy_id", "last_updated_time", "schema_version"):
                    pol.pop(k, None)
                method, path, b = "PUT", d.lifecycle_put_path(name), {"policy": pol}
            try:
                conn.request(method, path, b, ok=(200, 201),
                             privilege="manage_index_templates / manage_pipeline / manage_ilm (cluster)")
                res[name] = "restored"
            except ClusterError as e:
                if e.endpoint_missing or "no processor type exists" in str(e).lower():
                    # a processor from a module or plugin the target lacks is the target's limit too
                    res[name] = f"skipped: unsupported by the target cluster ({e})"
                elif kind == "lifecycle_policies" and e.status == 409:
                    res[name] = "skipped: already exists in the target cluster"
                else:
                    res[name] = f"error: {e}"
    return out


def load_snapshot(conn: Connection, manifest: Any, open_stream: Callable[[str], Iterable[bytes]],
                  params: LoadParams | None = None, *, progress: Callable[[ProgressEvent], None] | None = None,
                  cancel: threading.Event | None = None) -> LoadResult:
    """Restore the chosen indices of `manifest` into `conn` (see docs/engine-interface.md).

    Each index is loaded one after the other (its bulk requests in parallel); an index
    that fails is recorded with its error and the others go on; `ok` is False then."""
    params = params or LoadParams()
    cancel = cancel or threading.Event()
    if conn.dialect is None:
        conn.identify()
    rename = Renamer(params.rename_pattern, params.rename_replacement)
    result = LoadResult(indices={}, metadata={}, ok=True)
    cluster_meta = (getattr(manifest, "meta", None) or {}).get("cluster_metadata") or {}
    if params.metadata_kinds:
        result.metadata = load_cluster_metadata(conn, cluster_meta, params, rename)
        if any(v.startswith("error") for kind in result.metadata.values() for v in kind.values()):
            result.ok = False
    streams = getattr(manifest, "streams", {}) or {}
    chosen = choices(manifest, params, rename)
    if not chosen:
        sources = sorted(n[len(STREAM_PREFIX):] for n in streams if n.startswith(STREAM_PREFIX))
        raise ValueError(nothing_matches("the snapshot", params.include, params.exclude, sources))
    clash = rules.collision(chosen)
    if clash:
        raise ValueError(clash)
    targets = {c.target: c.source for c in chosen}
    run = [0, 0]
    ds_state: dict[str, str] = {}
    for target, source in targets.items():
        name = STREAM_PREFIX + source
        meta = streams[name].meta
        t0 = time.monotonic()
        try:
            if cancel.is_set():
                raise Cancelled(f"restore of {target} cancelled")
            entry = load_index(conn, source, target, meta, functools.partial(open_stream, name), params, rename,
                               cancel=cancel, progress=progress, warnings=result.warnings, run_totals=run,
                               data_streams=ds_state)
        except (ClusterError, Cancelled, ValueError, RepositoryError) as e:
            entry = {"source": source, "docs": 0, "bytes": 0, "failed": 0, "failures": [], "error": str(e),
                     "duration": time.monotonic() - t0, "status": "Failed"}
        result.indices[target] = entry
        if entry.get("status") == "Failed":
            result.ok = False
    for ds, state in ds_state.items():
        if state != "created" or not params.verify:
            continue
        parts = [x for x in result.indices.values() if x.get("data_stream") == ds]
        want = sum(int(x.get("expected") or 0) for x in parts)
        conn.request("POST", f"{index_path(ds)}/_refresh")
        got = int(conn.json("GET", f"{index_path(ds)}/_count")["count"])
        if got != want:
            result.ok = False
            for x in parts:
                x["status"] = "Failed"
                x["error"] = f"data stream {ds} holds {got} documents after the restore, the snapshot has {want}"
    return result


def manifest_facts(manifest: Any) -> dict[str, rules.IndexFacts]:
    """The indices a snapshot holds a stream for, by source name (restores.rules' input)."""
    streams = getattr(manifest, "streams", {}) or {}
    out = {}
    for name, entry in streams.items():
        if name.startswith(STREAM_PREFIX):
            meta = entry.meta or {}
            out[name[len(STREAM_PREFIX):]] = rules.IndexFacts(int(meta.get("docs") or 0), getattr(entry, "size", None),
                                                              str(meta.get("data_stream") or ""))
    return out


def choices(manifest: Any, params: LoadParams, rename: Renamer | None = None) -> list[rules.Choice]:
    """The snapshot's indices a restore with `params` loads and where each goes, sorted by
    source name (restores.rules.choose over the manifest)."""
    rename = rename or Renamer(params.rename_pattern, params.rename_replacement)
    return rules.choose(manifest_facts(manifest), params.include, params.exclude, rename)
