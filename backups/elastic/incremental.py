"""Incremental dumps: read only what changed in an index since the previous snapshot.

An index the previous snapshot holds with its id lists, whose uuid, shards, settings,
mappings and primary terms are the same and whose shards' max_seq_no did not go back, is
read as a delta (docs/repository-format.md, "Composed streams"):
1. an ids-only read (`_source: false`): the keys (backups.elastic.keys) the index holds;
2. the documents whose `_seq_no` is above the SMALLEST of the previous snapshot's
   per-shard max_seq_no (a superset of what changed in each shard: correct, and one query);
3. a merge-join of the previous snapshot's live keys, the current keys and the delta's:
   the lines of older layers that are now dead (updated or deleted).
The new snapshot's index composes the previous layers (referenced, not copied), the delta
as a new layer, and each layer's dead lines. Anything that makes a delta unsafe returns a
reason, and the dump reads the index in full instead.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.fingerprint import IndexState
from backups.elastic.keys import (
    DEAD_FORMAT,
    KEY,
    KEYS_FORMAT,
    RECORD,
    Sorter,
    compare,
    dead_bytes,
    dead_lines,
    live_documents,
    records,
)
from backups.elastic.metadata import IndexInfo
from backups.elastic.reader import Reader
from backups.elastic.results import ManifestStream, SnapshotManifest, StreamMeta, StreamWriter

ReadPrevious = Callable[[str], Iterable[bytes]]


def layer_name(index: str, n: int) -> str:
    return f"layers/{index}/{n}"


def keys_name(index: str, n: int) -> str:
    return f"keys/{index}/{n}"


def dead_name(index: str, n: int) -> str:
    return f"dead/{index}/{n}"


class Unsafe(Exception):
    """A delta cannot be trusted here: read the index in full (the message says why)."""


@dataclass(frozen=True)
class Layers:
    """The layers of an index in a snapshot: stream names, oldest first, with id lists and dead lines."""
    lines: list[str]
    keys: list[str]
    dead: dict[str, str]

    @classmethod
    def of(cls, index: str, stream: str, meta: dict[str, Any] | Any) -> Layers | None:
        composed = meta.get("composed")
        if composed:
            return cls(list(composed["layers"]), list(composed["keys"]), dict(composed.get("dead") or {}))
        if meta.get("id_list"):
            return cls([stream], [str(meta["id_list"])], {})
        return None

    def companions(self, stream: str) -> list[str]:
        """Every stream of the index but `stream` (what a reuse copies beside it)."""
        return [n for n in [*self.lines, *self.keys, *self.dead.values()] if n != stream]


def unsafe_reason(prev: ManifestStream | None, meta: StreamMeta, state: IndexState, chain_length: int) -> str | None:
    """Why the index cannot be read as a delta of `prev` (the previous snapshot's stream), from what is known already."""
    if prev is None:
        return "not in the previous snapshot"
    pm = prev.meta
    if not pm.get("complete") or pm.get("format") != meta.get("format"):
        return "the previous snapshot's stream is incomplete or of another format"
    layers = Layers.of(meta["index"], "", pm)
    if layers is None:
        return "the previous snapshot has no id list for it"
    checks = [(pm.get("uuid") != meta.get("uuid"), "new index uuid (deleted and created again)"),
              (pm.get("shards") != meta.get("shards"), "shard count changed"),
              (pm.get("mappings") != meta.get("mappings"), "mappings changed"),
              (pm.get("settings") != meta.get("settings"), "settings changed"),
              (len(layers.lines) >= chain_length, f"chain length {chain_length} reached")]
    for bad, why in checks:
        if bad:
            return why
    return seq_no_reason((pm.get("fingerprint_signals") or {}).get("shards") or {}, state.signals.get("shards") or {})


def seq_no_reason(before: dict[str, Any], now: dict[str, Any]) -> str | None:
    if set(before) != set(now):
        return "shards differ from the previous snapshot's"
    for sid, b in before.items():
        was, cur = b.get("max_seq_no"), now[sid].get("max_seq_no")
        if not isinstance(was, int) or not isinstance(cur, int):
            return f"shard {sid} reports no max_seq_no"
        if cur < was:
            return f"shard {sid}'s max_seq_no went back from {was} to {cur}"
    return None


def since(prev_meta: Any) -> int:
    """The delta reads `_seq_no` above this: the smallest previous per-shard max_seq_no."""
    shards = (prev_meta.get("fingerprint_signals") or {}).get("shards") or {}
    return min(int(s["max_seq_no"]) for s in shards.values())


def primary_terms(conn: Connection, index: str) -> dict[str, int] | None:
    """Each shard's primary term (from the cluster state), None when the server will not say."""
    try:
        r = conn.json("GET", f"/_cluster/state/metadata/{index_path(index).lstrip('/')}",
                      params={"filter_path": "metadata.indices.*.primary_terms"})
    except ClusterError:
        return None
    terms = ((r.get("metadata") or {}).get("indices") or {}).get(index, {}).get("primary_terms")
    return {str(k): int(v) for k, v in terms.items()} if isinstance(terms, dict) else None


def server_reason(conn: Connection, index: str, gt: int, docs: int, max_fraction: float) -> str | None:
    """Why the server cannot serve this delta: `_seq_no` range queries that do not work
    (osmem-server answers them with no hits: a count of `gte 0` must be the index's
    count), or a delta too large to be worth it."""
    p = index_path(index)
    total = int(conn.json("GET", f"{p}/_count", index=index)["count"])
    ranged = int(conn.json("POST", f"{p}/_count", {"query": {"range": {"_seq_no": {"gte": 0}}}}, index=index)["count"])
    if ranged != total:
        return f"the server's range query on _seq_no does not work ({ranged} of {total} documents match gte 0)"
    changed = int(conn.json("POST", f"{p}/_count", {"query": {"range": {"_seq_no": {"gt": gt}}}}, index=index)["count"])
    if total and changed > max_fraction * max(total, docs):
        return f"delta too large: {changed} of {total} documents above _seq_no {gt} (> {max_fraction:.0%})"
    return None


@dataclass
class Delta:
    """One index read as a delta: what dump_index reports."""
    docs: int
    docs_read: int
    docs_deleted: int
    bytes: int


@dataclass
class Source:
    """What one delta read needs from the dump."""
    conn: Connection
    writer: StreamWriter
    previous: SnapshotManifest
    read_previous: ReadPrevious
    info: IndexInfo
    reader_args: dict[str, Any]
    cancel: threading.Event
    on_page: Callable[[int, int], None]
    # no shard counted a delete since the previous snapshot: try the delta alone first (the
    # count of its view proves it, or the ids are read after all)
    no_deletes: bool = False


def current_keys(src: Source) -> Sorter:
    """Step 1: every key the index holds, from an ids-only read."""
    keys = Sorter(KEY)
    # a scroll: its pages need no sort values (a point in time's would be half of each hit)
    reader = Reader(src.conn, src.info, ids_only=True, cancel=src.cancel, **{**src.reader_args, "mode": "scroll"})
    try:
        reader.open()
        for page in reader.pages():
            keys.add_keys(page.keys)
        if keys.count != reader.expected:
            raise ClusterError(f"index {src.info.name}: the ids read gave {keys.count} documents, its view counts "
                               f"{reader.expected}; retry the backup")
    finally:
        reader.close()
    return keys


def read_delta(src: Source, gt: int, name: str) -> tuple[Sorter, int, int | None]:
    """Step 2: the documents above `_seq_no` `gt` into stream `name`; their records (key,
    line), the stream's size, and the view's count of all documents (a point in time only)."""
    recs = Sorter(RECORD)
    reader = Reader(src.conn, src.info, query={"range": {"_seq_no": {"gt": gt}}}, keys=True, cancel=src.cancel,
                    **src.reader_args)

    def lines() -> Iterator[bytes]:
        for page in reader.pages():
            recs.add_keys(page.keys, first_line=recs.count)
            src.on_page(page.docs, len(page.lines))
            yield page.lines
        if recs.count != reader.expected:
            raise ClusterError(f"index {src.info.name}: the delta read gave {recs.count} documents, its view counts "
                               f"{reader.expected}; retry the backup")
    try:
        reader.open()
        stored = src.writer.add_stream(name, lines(), meta={"format": "ndjson-v1", "docs": reader.expected})
    finally:
        reader.close()
    return recs, int(getattr(stored, "size", 0) or 0), reader.view_total if reader.mode == "pit" else None


def previous_live(src: Source, layers: Layers) -> Iterator[tuple[bytes, int, int]]:
    parts = [(src.read_previous(k), dead_lines(src.read_previous(layers.dead[n])) if n in layers.dead else dead_lines([]))
             for k, n in zip(layers.keys, layers.lines, strict=True)]
    return live_documents(parts)


def dump_delta(src: Source, meta: StreamMeta, prev_meta: Any, stream: str) -> Delta:
    """Read the index as a delta of the previous snapshot and write its composed stream
    `stream` (last, so a failure leaves no index behind); raises Unsafe (nothing written
    but perhaps an orphan layer) when the previous snapshot cannot be used after all."""
    index = src.info.name
    prev = Layers.of(index, stream, prev_meta)
    assert prev is not None
    n = len(prev.lines)
    current = None if src.no_deletes else current_keys(src)
    recs, nbytes, view_total = read_delta(src, since(prev_meta), layer_name(index, n))
    delta = b"".join(recs.sorted_parts())   # the delta is small (incremental_max_fraction): compared, then stored
    try:
        # Nothing deleted, proven: every document of the view is in the delta or unchanged since the
        # previous snapshot (so in it), and the composition holds as many documents as the view
        plan = compare(previous_live(src, prev), None, records([delta], RECORD)) \
            if current is None and view_total is not None else None
        deletions = "count"
        if plan is None or plan.carried + recs.count != view_total:
            deletions = "ids"
            ids = current or current_keys(src)
            plan = compare(previous_live(src, prev), (r for part in ids.sorted_parts() for r in records([part], KEY)),
                           records([delta], RECORD))
        dead = _merged_dead(src, prev, plan.dead)
    except ClusterError:
        forget(src.writer, layer_name(index, n))
        raise
    except Exception as e:  # noqa: BLE001 - the previous snapshot cannot be read (Inconsistent, RepositoryError)
        forget(src.writer, layer_name(index, n))
        raise Unsafe(f"the previous snapshot's id lists cannot be used ({e})") from e
    lines = [layer_name(index, j) for j in range(n + 1)]
    keys = [keys_name(index, j) for j in range(n + 1)]
    added = [lines[n]]
    try:
        dead_names = _compose(src, prev, lines, keys, delta, recs.count, dead, added)
    except Exception as e:  # noqa: BLE001 - e.g. the previous layers' chunks were pruned: read it in full
        for name in added:
            forget(src.writer, name)
        raise Unsafe(f"the previous snapshot's layers cannot be referenced ({e})") from e
    docs = plan.carried + recs.count
    size = sum(int(src.previous.streams[old].size) for old in prev.lines) + nbytes   # dead lines included
    out = meta.copy()
    out.update({"docs": docs, "complete": True, "mode": "incremental", "docs_deleted": plan.deleted,
                "count_source": "composed", "deletions_from": deletions,
                "composed": {"layers": lines, "keys": keys, "dead": dead_names, "size": size}})
    src.writer.add_stream(stream, [], meta=dict(out))
    return Delta(docs, recs.count, plan.deleted, size)


def _compose(src: Source, prev: Layers, lines: list[str], keys: list[str], delta: bytes, records_: int,
             dead: dict[int, Any], added: list[str]) -> dict[str, str]:
    """The streams beside the composed one: the previous layers and id lists referenced, the
    delta's id list, each layer's dead lines; `added` says what was written so far."""
    n = len(prev.lines)
    for j, old in enumerate(prev.lines):
        src.writer.reuse_stream(lines[j], src.previous, meta=_plain_meta(src.previous, old, j), source=old)
        added.append(lines[j])
        src.writer.reuse_stream(keys[j], src.previous, meta={"format": KEYS_FORMAT}, source=prev.keys[j])
        added.append(keys[j])
    src.writer.add_stream(keys[n], [delta], meta={"format": KEYS_FORMAT, "records": records_})
    added.append(keys[n])
    dead_names = {}
    for j, lines_dead in sorted(dead.items()):
        dead_names[lines[j]] = dead_name(src.info.name, j)
        src.writer.add_stream(dead_names[lines[j]], [dead_bytes(lines_dead)],
                              meta={"format": DEAD_FORMAT, "lines": len(lines_dead)})
        added.append(dead_names[lines[j]])
    return dead_names


def _plain_meta(previous: SnapshotManifest, name: str, n: int) -> dict[str, Any]:
    m = previous.streams[name].meta
    return {"format": m.get("format", "ndjson-v1"), "layer": n}


def _merged_dead(src: Source, prev: Layers, new: dict[int, list[int]]) -> dict[int, Any]:
    from array import array

    out: dict[int, Any] = {}
    for j, name in enumerate(prev.lines):
        old = dead_lines(src.read_previous(prev.dead[name])) if name in prev.dead else array("I")
        merged = array("I", sorted({*old, *new.get(j, [])})) if new.get(j) else old
        if merged:
            out[j] = merged
    return out


def forget(writer: StreamWriter, name: str) -> None:
    """Leave a stream added earlier out of the snapshot, when the writer can."""
    forget = getattr(writer, "forget_stream", None)
    if forget is not None:
        forget(name)


def no_deletes(before: dict[str, Any], now: dict[str, Any]) -> bool:
    """No shard's delete counter moved (a hint only: counters restart with a node)."""
    return bool(before) and set(before) == set(now) and all(
        isinstance(b.get("delete_total"), int) and b.get("delete_total") == now[sid].get("delete_total")
        for sid, b in before.items())
