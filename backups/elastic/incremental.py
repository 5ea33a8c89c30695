"""Incremental dumps: read only what changed in an index since the previous snapshot.

An index the previous snapshot holds with its id lists, whose uuid, shards, settings,
mappings and primary terms are the same and whose shards' max_seq_no did not go back, is
read as a delta (docs/repository-format.md, "Composed streams"):
1. the documents whose `_seq_no` is above `since` (the SMALLEST of the previous snapshot's
   per-shard global checkpoints, or max_seq_no where it recorded none: a superset of what
   changed in each shard: correct, and one query);
2. the lines of older layers that are now dead (updated or deleted): from `_seq_no` doc
   values against the layers' sequence lists (backups/elastic/seqs.py), or, where a layer
   has none, by an ids-only read (`_source: false`) merge-joined with the previous
   snapshot's id lists and the delta's keys (backups/elastic/keys.py).
The new snapshot's index composes the previous layers (referenced, not copied), the delta
as a new layer, and each layer's dead lines. Anything that makes a delta unsafe returns a
reason, and the dump reads the index in full instead.
"""
from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.fingerprint import IndexState
from backups.elastic.keys import (
    DEAD_FORMAT,
    KEY,
    KEYS_FORMAT,
    RECORD,
    Inconsistent,
    Sorter,
    compare,
    dead_bytes,
    dead_lines,
    lines_of,
    live_documents,
    records,
)
from backups.elastic.metadata import IndexInfo
from backups.elastic.reader import Reader
from backups.elastic.results import ManifestStream, SnapshotManifest, StreamMeta, StreamWriter
from backups.elastic.seqs import Gone, Previous, SeqList, Unsafe, find_gone, seqs_name

ReadPrevious = Callable[[str], Iterable[bytes]]


def layer_name(index: str, n: int) -> str:
    return f"layers/{index}/{n}"


def keys_name(index: str, n: int, run: int = 0) -> str:
    return f"ids/{index}/{n}/{run}"


def dead_name(index: str, n: int) -> str:
    return f"dead/{index}/{n}"


@dataclass(frozen=True)
class Layers:
    """The layers of an index in a snapshot: stream names, oldest first, with id lists, sequence
    lists (None: a layer written before them, or by a read that could not tell the shards) and dead lines."""
    lines: list[str]
    keys: list[list[str]]      # per layer, its id list's sorted runs
    dead: dict[str, str]
    seqs: list[str | None]

    @classmethod
    def of(cls, index: str, stream: str, meta: dict[str, Any] | Any) -> Layers | None:
        composed = meta.get("composed")
        if composed:
            lines = list(composed["layers"])
            return cls(lines, [list(k) for k in composed["keys"]], dict(composed.get("dead") or {}),
                       list(composed.get("seqs") or [None] * len(lines)))
        if meta.get("id_list"):
            return cls([stream], [list(meta["id_list"])], {}, [meta.get("seq_list")])
        return None

    def companions(self, stream: str) -> list[str]:
        """Every stream of the index but `stream` (what a reuse copies beside it)."""
        return [n for n in [*self.lines, *(r for runs in self.keys for r in runs), *self.dead.values(),
                            *(s for s in self.seqs if s)] if n != stream]


RUN_RECORDS = 1 << 18   # an id list is written in sorted runs of this many records (5 MiB): memory is one run


class IdList:
    """A layer's id list, written as sorted runs while the layer is read (each run in a
    thread of its own, one at a time), so memory is one run whatever the index holds."""

    def __init__(self, writer: StreamWriter, index: str, layer: int) -> None:
        self.writer, self.index, self.layer = writer, index, layer
        self.sorter = Sorter(RECORD)
        self.names: list[str] = []
        self.count = 0
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def add(self, keys: list[bytes], first_line: int) -> None:
        self.sorter.add_keys(keys, first_line=first_line)
        if self.sorter.count >= RUN_RECORDS:
            self._spill()

    def finish(self) -> list[str]:
        """Every run written (an empty index: one empty run); their stream names."""
        if self.sorter.count or not self.names:
            self._spill()
        self._join()
        return self.names

    def _spill(self) -> None:
        data, n = b"".join(self.sorter.sorted_parts()), self.sorter.count
        self.sorter = Sorter(RECORD)
        self._join()
        name = keys_name(self.index, self.layer, len(self.names))
        self.names.append(name)
        self.count += n
        self._thread = threading.Thread(target=self._write, args=(name, data, n), name=f"id-list-{self.index}",
                                        daemon=True)
        self._thread.start()

    def _write(self, name: str, data: bytes, n: int) -> None:
        try:
            self.writer.add_stream(name, [data], meta={"format": KEYS_FORMAT, "records": n})
        except BaseException as e:  # noqa: BLE001 - raised by the reading thread at the next run or the end
            self._error = e

    def _join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error


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


def seq_floor(prev_meta: Any) -> int | None:
    """The smallest of the previous snapshot's per-shard global checkpoints: every operation at
    or below it was in that snapshot's view (backups/elastic/seqs.py); None when it did not record them."""
    floor = prev_meta.get("seq_floor") or {}
    shards = (prev_meta.get("fingerprint_signals") or {}).get("shards") or {}
    if not floor or set(floor) != set(shards) or not all(isinstance(v, int) for v in floor.values()):
        return None
    return min(int(v) for v in floor.values())


def since(prev_meta: Any) -> int:
    """The delta reads `_seq_no` above this: the previous snapshot's smallest global checkpoint,
    or, where it recorded none, its smallest per-shard max_seq_no."""
    floor = seq_floor(prev_meta)
    if floor is not None:
        return floor
    shards = (prev_meta.get("fingerprint_signals") or {}).get("shards") or {}
    return min(int(s["max_seq_no"]) for s in shards.values())


class RangesCheck:
    """Whether the server's `_seq_no` range queries work (osmem-server answers them with no
    hits: a count of `gte 0` must be the index's count): asked once per run, of the first
    index with documents (an empty one proves nothing)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._known: tuple[str | None] | None = None

    def reason(self, conn: Connection, index: str, docs: int) -> str | None:
        with self._lock:
            if self._known is not None:
                return self._known[0]
            p = index_path(index)
            total = int(conn.json("GET", f"{p}/_count", index=index)["count"])
            ranged = int(conn.json("POST", f"{p}/_count", {"query": {"range": {"_seq_no": {"gte": 0}}}},
                                   index=index)["count"])
            why = None if ranged == total else \
                f"the server's range query on _seq_no does not work ({ranged} of {total} documents match gte 0)"
            if why is not None or docs:
                self._known = (why,)
            return why


def server_reason(conn: Connection, index: str, gt: int, docs: int, max_fraction: float) -> str | None:
    """Why this delta is not worth it: more than `max_fraction` of the index's `docs` above `gt`."""
    changed = int(conn.json("POST", f"{index_path(index)}/_count", {"query": {"range": {"_seq_no": {"gt": gt}}}},
                            index=index)["count"])
    if changed and changed > max_fraction * docs:
        return f"delta too large: {changed} of {docs} documents above _seq_no {gt} (> {max_fraction:.0%})"
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
    # a scroll: its pages need no sort values (a point in time's would be half of each hit); ~30 bytes
    # a document, so full pages whatever the documents' size
    args = {**src.reader_args, "mode": "scroll", "page_docs": max(int(src.reader_args["page_docs"]), 5000)}
    reader = Reader(src.conn, src.info, ids_only=True, cancel=src.cancel, **args)
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


@dataclass
class DeltaRead:
    """What the delta read gave: its records (key, line), stream size, the view's count of
    all its documents (a point in time only) and its sequence list (when the read knew shards)."""
    recs: Sorter
    nbytes: int
    view_total: int | None
    seqs: SeqList | None
    gone: Gone | None = None


def read_delta(src: Source, gt: int, name: str, prev_codes: Previous | None = None) -> DeltaRead:
    """Step 2: the documents above `_seq_no` `gt` into stream `name`. With `prev_codes` (the
    previous snapshot's sequence lists), the documents gone since are found from doc values
    (backups/elastic/seqs.py), in the delta's point in time, or before its scroll begins (a
    document updated in between is then superseded by its key); raises LabelsUnknown when
    this read cannot tell each document's shard."""
    recs, seqs = Sorter(RECORD), SeqList()
    reader = Reader(src.conn, src.info, query={"range": {"_seq_no": {"gt": gt}}}, keys=True, cancel=src.cancel,
                    codes=True, **src.reader_args)
    if prev_codes is not None and not reader.labels:
        raise LabelsUnknown()
    read = DeltaRead(recs, 0, None, seqs if reader.labels else None)
    pit = reader.mode == "pit"

    def lines() -> Iterator[bytes]:
        for page in reader.pages():
            recs.add_keys(page.keys, first_line=recs.count)
            seqs.add(page.codes, page.docs)
            src.on_page(page.docs, len(page.lines))
            yield page.lines
        if recs.count != reader.expected:
            raise ClusterError(f"index {src.info.name}: the delta read gave {recs.count} documents, its view counts "
                               f"{reader.expected}; retry the backup")
    try:
        if prev_codes is not None and not pit:
            read.gone = find_gone(prev_codes, gt, src.info.shards, reader.search_shard)
        reader.open()
        if prev_codes is not None and pit:
            if reader.mode != "pit":
                raise Unsafe("the delta's point in time could not be opened")
            read.gone = find_gone(prev_codes, gt, src.info.shards, reader.search_shard)
        stored = src.writer.add_stream(name, lines(), meta={"format": "ndjson-v1", "docs": reader.expected})
    finally:
        reader.close()
    read.nbytes = int(getattr(stored, "size", 0) or 0)
    read.view_total = reader.view_total if reader.mode == "pit" else None
    if read.seqs is not None and not read.seqs.ok:
        read.seqs = None
    return read


class LabelsUnknown(Exception):
    """This read cannot tell each document's shard: deletions are found by the ids read."""


def previous_live(src: Source, layers: Layers) -> Iterator[tuple[bytes, int, int]]:
    """The previous snapshot's live documents, sorted by key: every run of every layer's id list merged."""
    parts = []
    for layer, (runs, n) in enumerate(zip(layers.keys, layers.lines, strict=True)):
        dead = dead_lines(src.read_previous(layers.dead[n])) if n in layers.dead else dead_lines([])
        parts += [(src.read_previous(run), layer, dead) for run in runs]
    return live_documents(parts)


def previous_codes(src: Source, layers: Layers) -> Previous:
    """The previous snapshot's sequence lists (read as streams, when compared) and dead lines."""
    lists: list[Callable[[], Iterable[bytes]]] = []
    lines, dead = [], []
    for name, seqs in zip(layers.lines, layers.seqs, strict=True):
        assert seqs is not None
        lists.append(partial(src.read_previous, seqs))
        lines.append(int(src.previous.streams[name].meta.get("docs") or 0))
        dead.append(dead_lines(src.read_previous(layers.dead[name])) if name in layers.dead else dead_lines([]))
    return Previous(lists, lines, dead)


@dataclass
class Plan:
    """Which older lines are dead now, and the counts the composition gets."""
    dead: dict[int, list[int]]
    carried: int
    deleted: int
    deletions: str       # "seqs" | "count" | "ids": how the deletions were found


def plan_by_seqs(src: Source, prev: Layers, codes: Previous, read: DeltaRead, delta: bytes) -> Plan:
    """Dead: the lines gone at or below `since`, every line above it (re-read by the delta, or
    gone), and any line whose key the delta holds (updated between two views). A point in time
    must then count exactly the composition's documents."""
    assert read.gone is not None
    keys = [delta[i:i + KEY] for i in range(0, len(delta), RECORD)]
    dead: dict[int, set[int]] = {}
    for j, lines in [*read.gone.below.items(), *read.gone.above.items()]:
        dead.setdefault(j, set()).update(lines)
    superseded = 0
    for j, runs in enumerate(prev.keys):
        was_dead = set(codes.dead[j])
        for run in runs:
            mine = [n for n in lines_of(b"".join(src.read_previous(run)), keys) if n not in was_dead]
            superseded += len(mine)
            dead.setdefault(j, set()).update(mine)
    killed = sum(len(v) for v in dead.values())
    carried = sum(n - len(d) for n, d in zip(codes.lines, codes.dead, strict=True)) - killed
    if read.view_total is not None and carried + read.recs.count != read.view_total:
        raise Inconsistent(f"the composition would hold {carried + read.recs.count} documents, the point in time "
                           f"{read.view_total}")
    return Plan({j: sorted(v) for j, v in dead.items() if v}, carried, killed - superseded, "seqs")


def plan_by_keys(src: Source, prev: Layers, current: Sorter | None, read: DeltaRead, delta: bytes) -> Plan:
    """The keys' way: nothing deleted when the view's count proves it, else an ids-only read merged in."""
    # Nothing deleted, proven: every document of the view is in the delta or unchanged since the
    # previous snapshot (so in it), and the composition holds as many documents as the view
    plan = compare(previous_live(src, prev), None, records([delta], RECORD)) \
        if current is None and read.view_total is not None else None
    deletions = "count"
    if plan is None or plan.carried + read.recs.count != read.view_total:
        deletions = "ids"
        ids = current or current_keys(src)
        plan = compare(previous_live(src, prev), (r for part in ids.sorted_parts() for r in records([part], KEY)),
                       records([delta], RECORD))
    return Plan(plan.dead, plan.carried, plan.deleted, deletions)


def dump_delta(src: Source, meta: StreamMeta, prev_meta: Any, stream: str) -> Delta:
    """Read the index as a delta of the previous snapshot and write its composed stream
    `stream` (last, so a failure leaves no index behind); raises Unsafe (nothing written
    but perhaps an orphan layer) when the previous snapshot cannot be used after all."""
    index = src.info.name
    prev = Layers.of(index, stream, prev_meta)
    assert prev is not None
    n = len(prev.lines)
    gt = since(prev_meta)
    codes, read, current = None, None, None
    try:
        if seq_floor(prev_meta) is not None and all(prev.seqs):
            codes = previous_codes(src, prev)
            try:
                read = read_delta(src, gt, layer_name(index, n), codes)
            except LabelsUnknown:
                codes = None
        if read is None:
            current = None if src.no_deletes else current_keys(src)
            read = read_delta(src, gt, layer_name(index, n))
        delta = b"".join(read.recs.sorted_parts())   # the delta is small (incremental_max_fraction): compared, then stored
        plan = plan_by_seqs(src, prev, codes, read, delta) if codes is not None else \
            plan_by_keys(src, prev, current, read, delta)
        dead = _merged_dead(src, prev, plan.dead)
        _check_lines(src.previous, prev, dead, plan.carried)
    except ClusterError:
        forget(src.writer, layer_name(index, n))
        raise
    except Unsafe:
        forget(src.writer, layer_name(index, n))
        raise
    except Exception as e:  # noqa: BLE001 - the previous snapshot cannot be read (Inconsistent, RepositoryError)
        forget(src.writer, layer_name(index, n))
        raise Unsafe(f"the previous snapshot's id lists cannot be used ({e})") from e
    return _write_composed(src, meta, prev, stream, read, delta, dead, plan)


def _write_composed(src: Source, meta: StreamMeta, prev: Layers, stream: str, read: DeltaRead, delta: bytes,
                    dead: dict[int, Any], plan: Plan) -> Delta:
    index, n = src.info.name, len(prev.lines)
    lines = [layer_name(index, j) for j in range(n + 1)]
    keys = [*prev.keys, [keys_name(index, n)]]
    # a sequence list for the new layer only when every older one has one: the next delta needs them all
    seqs = [*prev.seqs, seqs_name(index, n) if read.seqs is not None and all(prev.seqs) else None]
    added = [lines[n]]
    try:
        dead_names = _compose(src, prev, lines, keys, delta, read.recs.count, dead, added)
        new = seqs[n]
        if new is not None and read.seqs is not None:
            added.append(read.seqs.write(src.writer, new))
    except Exception as e:  # noqa: BLE001 - e.g. the previous layers' chunks were pruned: read it in full
        for name in added:
            forget(src.writer, name)
        raise Unsafe(f"the previous snapshot's layers cannot be referenced ({e})") from e
    docs = plan.carried + read.recs.count
    size = sum(int(src.previous.streams[old].size) for old in prev.lines) + read.nbytes   # dead lines included
    out = meta.copy()
    out.update({"docs": docs, "complete": True, "mode": "incremental", "docs_deleted": plan.deleted,
                "count_source": "composed", "deletions_from": plan.deletions,
                "composed": {"layers": lines, "keys": keys, "dead": dead_names, "size": size, "seqs": seqs}})
    src.writer.add_stream(stream, [], meta=dict(out))
    return Delta(docs, read.recs.count, plan.deleted, size)


def _compose(src: Source, prev: Layers, lines: list[str], keys: list[list[str]], delta: bytes, records_: int,
             dead: dict[int, Any], added: list[str]) -> dict[str, str]:
    """The streams beside the composed one: the previous layers and id lists referenced, the
    delta's id list, each layer's dead lines; `added` says what was written so far."""
    n = len(prev.lines)
    for j, old in enumerate(prev.lines):
        src.writer.reuse_stream(lines[j], src.previous, meta=_plain_meta(src.previous, old, j), source=old)
        added.append(lines[j])
        seqs = prev.seqs[j]
        for run in [*prev.keys[j], *([seqs] if seqs else [])]:
            src.writer.reuse_stream(run, src.previous, meta=dict(src.previous.streams[run].meta), source=run)
            added.append(run)
    src.writer.add_stream(keys[n][0], [delta], meta={"format": KEYS_FORMAT, "records": records_})
    added.append(keys[n][0])
    dead_names = {}
    for j, lines_dead in sorted(dead.items()):
        dead_names[lines[j]] = dead_name(src.info.name, j)
        src.writer.add_stream(dead_names[lines[j]], [dead_bytes(lines_dead)],
                              meta={"format": DEAD_FORMAT, "lines": len(lines_dead)})
        added.append(dead_names[lines[j]])
    return dead_names


def _check_lines(previous: SnapshotManifest, prev: Layers, dead: dict[int, Any], carried: int) -> None:
    """The older layers' lines less their dead ones are the documents carried, or the
    composition would be wrong: raise (the index is read in full)."""
    said = [previous.streams[name].meta.get("docs") for name in prev.lines]
    lines = [n for n in said if isinstance(n, int)]
    if len(lines) != len(said):
        raise Inconsistent("a previous layer does not say how many lines it holds")
    live = sum(n - len(dead.get(j, ())) for j, n in enumerate(lines))
    if live != carried:
        raise Inconsistent(f"the previous layers hold {live} live lines, the id lists {carried} documents")


def _plain_meta(previous: SnapshotManifest, name: str, n: int) -> dict[str, Any]:
    m = previous.streams[name].meta
    return {"format": m.get("format", "ndjson-v1"), "layer": n, "docs": m.get("docs")}


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
