"""An index's change fingerprint, to skip indices unchanged since the last snapshot.

On Elasticsearch the uuid plus each primary's max_seq_no would do. osmem-server (and
possibly other implementations) report max_seq_no = live docs - 1 on multi-shard indices,
which an update in place does not move. So several signals are combined; each of them
moves on some kind of write, and a counter that resets (node restart, relocation) only
makes the fingerprint say "changed", which costs time but never data.

Only signals that a write moves and a background merge does not: a real engine keeps
merging segments (and commits after a merge) long after the last write, so the Lucene
commit id, the count of deleted documents (a merge expunges them), segment counts and the
store size are left out. Every write moves max_seq_no and index_total (or delete_total /
noop_update_total), refreshed or not: they count operations, not searchable documents.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import orjson

from backups.elastic.connection import Connection, index_list_paths


def _shard_signals(shard: dict[str, Any]) -> dict[str, Any]:
    seq = shard.get("seq_no") or {}
    docs = shard.get("docs") or {}
    idx = shard.get("indexing") or {}
    return {
        "max_seq_no": seq.get("max_seq_no"),
        "local_checkpoint": seq.get("local_checkpoint"),
        "docs": docs.get("count"),
        "index_total": idx.get("index_total"),
        "delete_total": idx.get("delete_total"),
        "noop_update_total": idx.get("noop_update_total"),
    }


@dataclass(frozen=True)
class IndexState:
    fingerprint: str
    signals: dict[str, Any]
    doc_bytes: float | None   # stored bytes per document: a guess at a page's size, not a signal
    docs: int = 0             # primaries' live documents (not refreshed ones included)
    # each primary's global checkpoint: every operation at or below it was on every in-sync
    # copy before these statistics, so in the read that follows them (the refresh comes
    # after). Not a signal: it moves on its own after a write (backups/elastic/seqs.py)
    checkpoints: dict[str, int] | None = None


def index_states(conn: Connection, names: list[str]) -> dict[str, IndexState]:
    """{index: state} of the indices' write state, from `_stats?level=shards` in one
    request per few thousand characters of names (an index deleted meanwhile is left out).

    Take them BEFORE the refresh that precedes the read: every write acknowledged before
    the statistics is then searchable by the read, and a write that lands after them is
    perhaps read but is not in the fingerprint, so the next run reads again (safe). Taken
    after the refresh, a write acknowledged in between would be in the fingerprint but
    not in the stream, and every later run would skip the index without it."""
    out: dict[str, IndexState] = {}
    for path in index_list_paths(names):
        # shard-level stats always carry seq_no, commit and routing; docs, indexing and
        # store are the only metrics needed, which keeps the answer small on big clusters
        stats = conn.json("GET", f"{path}/_stats/docs,indexing,store",
                          params={"level": "shards", "ignore_unavailable": "true", "expand_wildcards": "all"},
                          privilege="monitor on the indices")
        for name, ix in (stats.get("indices") or {}).items():
            digest, signals = _digest(ix)
            prim = ix.get("primaries") or {}
            docs = (prim.get("docs") or {}).get("count") or 0
            stored = (prim.get("store") or {}).get("size_in_bytes") or 0
            out[name] = IndexState(digest, signals, stored / docs if docs and stored else None, docs,
                                   _checkpoints(ix))
    return out


def _checkpoints(ix: dict[str, Any]) -> dict[str, int] | None:
    out: dict[str, int] = {}
    for sid, copies in (ix.get("shards") or {}).items():
        for c in copies:
            g = (c.get("seq_no") or {}).get("global_checkpoint")
            if (c.get("routing") or {}).get("primary", True) and isinstance(g, int):
                out[str(sid)] = g
    return out or None


def _digest(ix: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    prim = ix.get("primaries") or {}
    shards: dict[str, Any] = {}
    for sid, copies in sorted((ix.get("shards") or {}).items(), key=lambda kv: int(kv[0])):
        for c in copies:
            if (c.get("routing") or {}).get("primary", True):
                shards[sid] = _shard_signals(c)
    signals = {
        "uuid": ix.get("uuid"),
        "docs": (prim.get("docs") or {}).get("count"),
        "index_total": (prim.get("indexing") or {}).get("index_total"),
        "delete_total": (prim.get("indexing") or {}).get("delete_total"),
        "shards": shards,
    }
    digest = hashlib.sha256(orjson.dumps(signals, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return digest, signals
