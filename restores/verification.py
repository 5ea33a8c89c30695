"""Verify a snapshot by restoring it (issue 16.1; the engine half, no Django).

The snapshot is loaded by the restore load (restores.load.load_snapshot) into a scratch
cluster with every index renamed under a prefix the verifier owns, then checked: each
index's document count against the manifest's, the order-independent digest of the
restored documents (backups.elastic.digest) against the one recorded at backup time,
optionally K random documents fetched by id and compared byte for byte with the
snapshot's, and optionally user queries with their expected hit counts. The caller
deletes what was restored (delete_indices) whatever happened."""
from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import msgspec

from backups.elastic.connection import ClusterError, Connection, index_list_paths, index_path
from backups.elastic.digest import ALGORITHM, DocumentDigest
from backups.elastic.dump import STREAM_PREFIX, ProgressEvent
from backups.elastic.hits import parse_page
from backups.elastic.metadata import list_indices
from backups.elastic.results import SnapshotManifest
from restores.load import LoadParams, choices, load_snapshot, split_lines
from restores.rules import Choice

_ID_ROUTING = re.compile(rb'\{"_id":("(?:[^"\\]|\\.)*")(?:,"_routing":("(?:[^"\\]|\\.)*"))?,"_source":')


@dataclass
class Query:
    index: str        # a source index name or pattern; the prefix is put in front
    query: dict[str, Any]
    hits: int         # expected number of matching documents


@dataclass
class VerifyParams:
    prefix: str                                   # e.g. "verify-1a2b3c4d-"
    random_docs: int = 0                          # K documents compared byte for byte
    queries: list[Query] = field(default_factory=list)
    workers: int = 2
    bulk_bytes: int = 10 * 1024 * 1024


@dataclass
class VerifyResult:
    ok: bool
    indices: dict[str, dict[str, Any]] = field(default_factory=dict)   # per source index
    queries: list[dict[str, Any]] = field(default_factory=list)
    samples: dict[str, Any] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def load_params(params: VerifyParams, progress: Callable[[ProgressEvent], None] | None = None) -> LoadParams:
    """Data only, every index renamed under the prefix, nothing overwritten."""
    return LoadParams(rename_pattern="^(.*)$", rename_replacement=params.prefix.replace("\\", "\\\\") + r"\1",
                      conflict="fail", metadata_kinds=(), restore_aliases=False, workers=params.workers,
                      bulk_bytes=params.bulk_bytes, on_index_failure="keep", progress=progress)


def chosen(manifest: SnapshotManifest, params: VerifyParams) -> list[Choice]:
    """Every index of the snapshot, each under the prefix, as the restore load chooses them
    (restores.load.choices over the manifest the verifier loads)."""
    return choices(_PlainIndices(manifest), load_params(params))


def planned_targets(manifest: SnapshotManifest, params: VerifyParams) -> list[str]:
    """The index names a verification of `manifest` creates (recorded before the load, so
    that what a crashed run left behind is known to be the verifier's own)."""
    return [c.target for c in chosen(manifest, params)]


def indices_under(conn: Connection, prefix: str) -> list[str]:
    return [i.name for i in list_indices(conn) if i.name.startswith(prefix)]


def foreign_indices(conn: Connection, prefix: str, owned: Iterable[str]) -> list[str]:
    """Indices under the prefix that the verifier did not create: it refuses to run then."""
    mine = set(owned)
    return [name for name in indices_under(conn, prefix) if name not in mine]


def delete_indices(conn: Connection, names: Iterable[str]) -> None:
    """Delete by explicit names (Elasticsearch 8 refuses wildcard deletes by default)."""
    for path in index_list_paths(sorted(set(names))):
        conn.request("DELETE", path, params={"ignore_unavailable": "true"}, ok=(200, 404),
                     privilege="delete_index on the verifier's prefix")


@dataclass(frozen=True)
class _PlainStream:
    meta: dict[str, Any]
    size: int


class _PlainIndices:
    """The manifest as the verifier loads it: a data stream's backing index is restored as
    a plain index under the prefix (a data stream would need its template and would make
    its own backing indices, which the counts and digests could not be matched to)."""

    def __init__(self, manifest: SnapshotManifest) -> None:
        self.id = manifest.id
        self.meta: dict[str, Any] = {}  # no cluster metadata: data only
        self.streams = {name: _PlainStream({k: v for k, v in (s.meta or {}).items() if k != "data_stream"}, s.size)
                        for name, s in manifest.streams.items()}


def restored_digest(conn: Connection, index: str, page_docs: int = 1000) -> DocumentDigest:
    """Read every document of `index` (a scroll in _doc order: no sort on _id) into a digest."""
    digest = DocumentDigest()
    r = conn.request("POST", f"{index_path(index)}/_search", {"size": page_docs, "sort": ["_doc"]},
                     params={"scroll": "2m"}, index=index)
    page = parse_page(r.body, index=index)
    sid = page.scroll_id
    try:
        while page.docs:
            digest.add_lines(page.lines)
            r = conn.request("POST", "/_search/scroll", {"scroll": "2m", "scroll_id": sid})
            page = parse_page(r.body, index=index)
            sid = page.scroll_id or sid
    finally:
        if sid:
            try:
                conn.request("DELETE", "/_search/scroll", {"scroll_id": [sid]}, ok=(200, 404), retry=False)
            except ClusterError:
                pass  # it expires by itself
    return digest


def check_index(conn: Connection, source: str, target: str, stream_meta: Mapping[str, Any]) -> dict[str, Any]:
    """Count and digest of one restored index against the snapshot's."""
    expected = int(stream_meta.get("docs") or 0)
    conn.request("POST", f"{index_path(target)}/_refresh", index=target)
    docs = int(conn.json("GET", f"{index_path(target)}/_count", index=target)["count"])
    out: dict[str, Any] = {"target": target, "expected_docs": expected, "docs": docs, "problems": []}
    if docs != expected:
        out["problems"].append(f"index {source}: {docs} documents restored, the snapshot has {expected}")
    recorded = stream_meta.get("digest") or {}
    if recorded.get("algorithm") != ALGORITHM:
        out["digest"] = "not recorded"
        return out
    got = restored_digest(conn, target)
    out.update(digest=got.hexdigest(), expected_digest=recorded.get("value"))
    if got.hexdigest() != recorded.get("value"):
        out["problems"].append(f"index {source}: the digest of the restored documents ({got.hexdigest()[:12]}…) "
                               f"differs from the one recorded at backup time ({str(recorded.get('value'))[:12]}…)")
    return out


_decode_doc = msgspec.json.Decoder(dict[str, msgspec.Raw]).decode


def sample_lines(open_stream: Callable[[str], Iterable[bytes]], sources: list[str], k: int,
                 rng: random.Random) -> list[tuple[str, bytes]]:
    """K (source index, dump line) pairs drawn uniformly from the snapshot (reservoir sampling)."""
    sample: list[tuple[str, bytes]] = []
    seen = 0
    for source in sources:
        for line in split_lines(open_stream(STREAM_PREFIX + source)):
            if not line:
                continue
            seen += 1
            if len(sample) < k:
                sample.append((source, line))
            else:
                j = rng.randrange(seen)
                if j < k:
                    sample[j] = (source, line)
    return sample


def compare_sample(conn: Connection, target: str, line: bytes) -> str | None:
    """A problem when the restored document (GET by id and routing) differs from the line."""
    m = _ID_ROUTING.match(line)
    if m is None:
        return f"snapshot line is not a dump line: {line[:80]!r}"
    doc_id = msgspec.json.decode(m.group(1), type=str)
    params = {"routing": msgspec.json.decode(m.group(2), type=str)} if m.group(2) else {}
    from urllib.parse import quote

    r = conn.request("GET", f"{index_path(target)}/_doc/{quote(doc_id, safe='')}", params=params, ok=(200, 404))
    if r.status == 404:
        return f"document {doc_id!r} of {target} is missing"
    source = _decode_doc(r.body).get("_source")
    if source is None or bytes(source) != line[m.end():-1]:
        return f"document {doc_id!r} of {target} differs from the snapshot"
    return None


def run_queries(conn: Connection, prefix: str, queries: list[Query]) -> list[dict[str, Any]]:
    out = []
    for q in queries:
        target = prefix + q.index
        try:
            got = int(conn.json("POST", f"{index_path(target)}/_count", {"query": q.query}, index=target)["count"])
        except ClusterError as e:
            out.append({"index": q.index, "expected": q.hits, "hits": None, "ok": False, "error": str(e)})
            continue
        out.append({"index": q.index, "expected": q.hits, "hits": got, "ok": got == q.hits})
    return out


def verify_snapshot(conn: Connection, manifest: SnapshotManifest, open_stream: Callable[[str], Iterable[bytes]],
                    params: VerifyParams, *, progress: Callable[[ProgressEvent], None] | None = None,
                    cancel: threading.Event | None = None, rng: random.Random | None = None) -> VerifyResult:
    """Restore `manifest` under params.prefix and check it (see the module's docstring)."""
    plain = _PlainIndices(manifest)
    load = load_snapshot(conn, plain, open_stream, load_params(params, progress), cancel=cancel)
    result = VerifyResult(ok=load.ok, notes=list(load.warnings))
    targets = {c.source: c.target for c in chosen(manifest, params)}
    for source, target in targets.items():
        loaded = load.indices.get(target) or {}
        if loaded.get("status") == "Failed" or loaded.get("error"):
            result.indices[source] = {"target": target, "problems": [f"index {source}: the restore failed: "
                                                                     f"{loaded.get('error') or 'see the load'}"]}
            result.problems += result.indices[source]["problems"]
            continue
        entry = check_index(conn, source, target, manifest.streams[STREAM_PREFIX + source].meta or {})
        result.indices[source] = entry
        result.problems += entry["problems"]
    old = sorted(s for s, e in result.indices.items() if e.get("digest") == "not recorded")
    if old:
        result.notes.append(f"no digest recorded at backup time for {', '.join(old)} (a snapshot from before "
                            "digests, or an index read incrementally): verified by document counts only")
    if params.random_docs and not result.problems:
        sample = sample_lines(open_stream, sorted(result.indices), params.random_docs, rng or random.Random())
        bad = [p for source, line in sample if (p := compare_sample(conn, targets[source], line))]
        result.samples = {"compared": len(sample), "differ": len(bad)}
        result.problems += bad
    if params.queries:
        result.queries = run_queries(conn, params.prefix, params.queries)
        result.problems += [f"query on {q['index']}: {q['hits']} hits, expected {q['expected']}"
                            + (f" ({q['error']})" if q.get("error") else "") for q in result.queries if not q["ok"]]
    result.ok = load.ok and not result.problems
    return result
