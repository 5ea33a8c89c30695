"""A restore's dry run (engine, no Django): what the load would do on the target, per
index, without writing anything, and the target's indexing counters for the estimate.

Thin on purpose: which indices are chosen, their names after the rename and the conflict
policy of each come from the load's own functions (restores.load, restores.rules), so the dry run and
the restore cannot disagree."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backups.elastic.connection import ClusterError, Connection
from backups.elastic.dump import STREAM_PREFIX
from backups.elastic.metadata import data_streams
from restores import load

# What the load does with an index, by the conflict policy, when the target exists.
ON_EXISTING = {"fail": "fail", "skip": "skip", "overwrite": "overwrite", "merge": "merge"}


@dataclass
class PlannedIndex:
    source: str
    target: str             # the index, or the data stream a backing index restores into
    action: str             # "create" | "skip" | "overwrite" | "merge" | "fail"
    docs: int               # documents in the snapshot
    bytes: int              # stream bytes in the snapshot
    existing_docs: int | None = None   # documents the target holds now (when it exists)
    data_stream: str = ""


def plan_restore(conn: Connection, manifest: Any, params: load.LoadParams) -> list[PlannedIndex]:
    """Per chosen index: created, skipped, overwritten, merged into, or failing (policy
    fail on an existing index), from one listing of the target's indices and streams."""
    if conn.dialect is None:
        conn.identify()
    rows = conn.json("GET", "/_cat/indices", params={"format": "json", "h": "index,docs.count", "expand_wildcards": "all"},
                     privilege="monitor on the indices")
    existing = {r["index"]: int(r["docs.count"]) if str(r.get("docs.count") or "").isdigit() else None for r in rows}
    streams = set(data_streams(conn).get("items") or {})
    out = []
    for c in load.choices(manifest, params):
        entry = manifest.streams[STREAM_PREFIX + c.source]
        target = c.writes_to
        exists = target in streams if c.data_stream else target in existing
        action = ON_EXISTING[load.policy_for(target, params)] if exists else "create"
        out.append(PlannedIndex(source=c.source, target=target, action=action, docs=c.docs,
                                bytes=int((entry.meta.get("composed") or {}).get("size", entry.size)), existing_docs=existing.get(target) if exists and not c.data_stream else None,
                                data_stream=c.data_stream))
    return out


@dataclass
class IndexingCounters:
    docs: int          # documents indexed since the nodes started (primaries)
    seconds: float     # time spent indexing them


def indexing_counters(conn: Connection) -> IndexingCounters | None:
    """The target's `_stats` indexing counters, or None when it keeps none (or would not say)."""
    try:
        doc = conn.json("GET", "/_stats/indexing", privilege="monitor on the indices")
    except ClusterError:
        return None
    idx = ((doc.get("_all") or {}).get("primaries") or {}).get("indexing") or {}
    docs, millis = int(idx.get("index_total") or 0), int(idx.get("index_time_in_millis") or 0)
    if docs <= 0 or millis <= 0:
        return None
    return IndexingCounters(docs=docs, seconds=millis / 1000)
