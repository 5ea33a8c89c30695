"""An index's change fingerprint, to skip indices unchanged since the last snapshot.

On Elasticsearch the uuid plus each primary's max_seq_no would do. osmem-server (and
possibly other implementations) report max_seq_no = live docs - 1 on multi-shard indices,
which an update in place does not move. So several signals are combined; each of them
moves on some kind of write, and a counter that resets (node restart, relocation) only
makes the fingerprint say "changed", which costs time but never data.
"""
from __future__ import annotations

import hashlib
from typing import Any

import orjson

from backups.elastic.connection import Connection, index_path


def _shard_signals(shard: dict[str, Any]) -> dict[str, Any]:
    seq = shard.get("seq_no") or {}
    docs = shard.get("docs") or {}
    idx = shard.get("indexing") or {}
    commit = shard.get("commit") or {}
    return {
        "max_seq_no": seq.get("max_seq_no"),
        "local_checkpoint": seq.get("local_checkpoint"),
        "docs": docs.get("count"),
        "deleted": docs.get("deleted"),
        "index_total": idx.get("index_total"),
        "delete_total": idx.get("delete_total"),
        "noop_update_total": idx.get("noop_update_total"),
        "commit_id": commit.get("id"),
    }


def fingerprint(conn: Connection, name: str) -> tuple[str, dict[str, Any]]:
    """(hash, signals) of the index's current write state, from `_stats?level=shards`.

    Take it before opening the consistent view (and after a refresh): a write that lands
    in between is then read but not in the fingerprint, so the next run re-reads (safe)."""
    stats = conn.json("GET", f"{index_path(name)}/_stats", params={"level": "shards"}, index=name,
                      privilege=f"monitor on index {name}")
    ix = (stats.get("indices") or {}).get(name) or {}
    prim = ix.get("primaries") or {}
    shards: dict[str, Any] = {}
    for sid, copies in sorted((ix.get("shards") or {}).items(), key=lambda kv: int(kv[0])):
        for c in copies:
            if (c.get("routing") or {}).get("primary", True):
                shards[sid] = _shard_signals(c)
    signals = {
        "uuid": ix.get("uuid"),
        "docs": (prim.get("docs") or {}).get("count"),
        "deleted": (prim.get("docs") or {}).get("deleted"),
        "index_total": (prim.get("indexing") or {}).get("index_total"),
        "delete_total": (prim.get("indexing") or {}).get("delete_total"),
        "shards": shards,
    }
    digest = hashlib.sha256(orjson.dumps(signals, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest, signals
