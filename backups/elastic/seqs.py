"""Deletions found from doc values: which documents of the previous snapshot are gone,
without reading a stored field (docs/repository-format.md, "Composed streams").

A live document is one version, written by one operation: its shard and `_seq_no` name it
while the shard's primary terms are the same (a delta is refused when they change). Each
layer of an index keeps a sequence list: per line, in line order, the code
`shard << 48 | _seq_no` (8 bytes, little-endian). A document of the previous snapshot whose
code is no longer live was updated or deleted.

What is live is asked of the server by aggregations over `_seq_no`'s doc values, per shard
(a slice of the delta's point in time, whose slice n is shard n when there are as many
slices as shards; or `preference=_shards:n`), below `since`: every operation at or below the
previous snapshot's global checkpoints was in its view, so the documents live there now are
a subset of the previous snapshot's. A coarse histogram is compared with the counts the
previous lists give; only its buckets that lost documents are read one `_seq_no` at a time.
Anything that does not fit (a live code the previous snapshot lacks, a bucket that holds
more than before) raises Unsafe: the index is read in full.
"""
from __future__ import annotations

import sys
from array import array
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from backups.elastic.connection import ClusterError

SEQS_FORMAT = "seqs-v1"
SHIFT = 48
MASK = (1 << SHIFT) - 1
BUCKETS = 20000          # the coarse histogram's buckets per shard, at most
RANGES = 400             # ranges per request of the fine read
FINE = 50000             # `_seq_no` values per request of the fine read (search.max_buckets is 65,536)
# Lines compared in memory at most: a list holds 8 bytes a line while it is read, and the
# comparison ~50 bytes a previous line (one int each, sorted). A larger index keeps no
# sequence list and finds its deletions by its id lists, merged from the repository in flat
# memory: slower (the ids read), but the dump's memory stays the same whatever the index size.
MEMORY_LINES = 1_000_000

# one search of one shard of the index (body -> response): the delta's view when it has one
ShardSearch = Callable[[int, dict[str, Any]], dict[str, Any]]


class Unsafe(Exception):
    """A delta cannot be trusted here: read the index in full (the message says why)."""


def code(shard: int, seq_no: int) -> int:
    return shard << SHIFT | seq_no


def seqs_name(index: str, n: int) -> str:
    return f"seqs/{index}/{n}"


class SeqList:
    """A layer's codes in line order, as its pages come; `ok` False once a page had none
    (the layer then has no sequence list: the next delta finds deletions by the ids read)."""

    def __init__(self) -> None:
        self.codes = array("Q")
        self.ok = True

    def add(self, codes: list[int] | None, docs: int) -> None:
        if codes is None or len(codes) != docs or len(self.codes) + docs > MEMORY_LINES:
            self.ok, self.codes = False, array("Q")
        elif self.ok:
            self.codes.extend(codes)

    def data(self) -> bytes:
        if sys.byteorder == "little":
            return self.codes.tobytes()
        out = array("Q", self.codes)
        out.byteswap()
        return out.tobytes()

    def write(self, writer: Any, name: str) -> str:
        writer.add_stream(name, [self.data()], meta={"format": SEQS_FORMAT, "records": len(self.codes)})
        return name


def read_codes(parts: Iterable[bytes]) -> array[int]:
    out = array("Q")
    out.frombytes(b"".join(parts))
    if sys.byteorder == "big":
        out.byteswap()
    return out


@dataclass
class Previous:
    """The previous snapshot's layers as the comparison needs them."""
    codes: list[array[int]]          # per layer, per line
    dead: list[set[int]]             # per layer, its lines dead already


@dataclass
class Gone:
    """What the comparison found: per layer, the lines whose document is no longer live at or
    below `since`, and the lines above it (every one of them dead: re-read by the delta, or gone)."""
    below: dict[int, list[int]] = field(default_factory=dict)
    above: dict[int, list[int]] = field(default_factory=dict)
    live_below: int = 0              # previous documents live at or below `since`, before the comparison
    requests: int = 0


def _shift(since: int) -> int:
    k = 4
    while (since >> k) > BUCKETS:
        k += 1
    return k


_TAG = 40   # an entry: code << _TAG | layer << 32 | line


def _entries(prev: Previous) -> list[int]:
    """Every live previous line as one int, sorted by code (codes are unique among live lines)."""
    out: list[int] = []
    for j, codes in enumerate(prev.codes):
        dead, tag = prev.dead[j], j << 32
        if dead:
            out += [c << _TAG | tag | line for line, c in enumerate(codes) if line not in dead]
        else:
            out += [c << _TAG | tag | line for line, c in enumerate(codes)]
    out.sort()
    return out


def _gone(out: dict[int, list[int]], entries: list[int]) -> None:
    for e in entries:
        out.setdefault(e >> 32 & 0xFF, []).append(e & 0xFFFFFFFF)


def find_gone(prev: Previous, since: int, shards: int, search: ShardSearch) -> Gone:
    """Compare the previous snapshot's live codes with what the server holds (see the module).
    The previous lines are one sorted list: each bucket's lines are a slice of it (bisect)."""
    k, out = _shift(since), Gone()
    w = 1 << k
    if len(prev.codes) > 0xFF:
        raise Unsafe(f"{len(prev.codes)} layers: at most 255 are compared by their sequence lists")
    entries = _entries(prev)
    if entries and entries[-1] >> _TAG >> SHIFT >= shards:
        raise Unsafe(f"a sequence list names shard {entries[-1] >> _TAG >> SHIFT} of an index of {shards}")
    dirty: dict[int, list[int]] = {}          # shard -> its buckets (code >> k) that lost documents
    slices: list[tuple[int, int]] = []        # ...and their lines in `entries`
    for shard in range(shards):
        lo = bisect_left(entries, code(shard, 0) << _TAG)
        mid = bisect_left(entries, code(shard, since + 1) << _TAG, lo)
        hi = bisect_left(entries, code(shard + 1, 0) << _TAG, mid)
        _gone(out.above, entries[mid:hi])
        out.live_below += mid - lo
        pos = lo
        for start, n in _histogram(search, shard, [(0, since + 1)], w, out):
            first = bisect_left(entries, code(shard, start) << _TAG, pos, mid)
            last = bisect_left(entries, code(shard, start + w) << _TAG, first, mid)
            if n > last - first:
                raise Unsafe(f"shard {shard} holds {n} documents in _seq_no [{start}, {start + w}) where the "
                             f"previous snapshot had {last - first}")
            _gone(out.below, entries[pos:first])   # buckets with no live document left
            if n < last - first:
                dirty.setdefault(shard, []).append(code(shard, start) >> k)
                slices.append((first, last))
            pos = last
        _gone(out.below, entries[pos:mid])
    live = _fine(search, dirty, k, since, out)
    found = 0
    for first, last in slices:
        for e in entries[first:last]:
            if e >> _TAG in live:
                found += 1
            else:
                out.below.setdefault(e >> 32 & 0xFF, []).append(e & 0xFFFFFFFF)
    if found != len(live):
        raise Unsafe(f"{len(live) - found} live documents at or below _seq_no {since} are not in the previous snapshot")
    return out


def _fine(search: ShardSearch, dirty: dict[int, list[int]], k: int, since: int, out: Gone) -> set[int]:
    """Every live code in the dirty buckets, read by histograms of interval 1."""
    live: set[int] = set()
    w = 1 << k
    for shard, buckets in sorted(dirty.items()):
        ranges: list[tuple[int, int]] = []
        for b in sorted(buckets):
            lo = (b << k) & MASK
            hi = min(lo + w, since + 1)
            if ranges and ranges[-1][1] == lo:
                ranges[-1] = (ranges[-1][0], hi)
            else:
                ranges.append((lo, hi))
        batch: list[tuple[int, int]] = []
        size = 0
        for lo, hi in ranges:
            while hi - lo > FINE:   # a long run of dirty buckets: cut it
                live.update(code(shard, s) for s, _ in _histogram(search, shard, [(lo, lo + FINE)], 1, out))
                lo += FINE
            if batch and (len(batch) >= RANGES or size + hi - lo > FINE):
                live.update(code(shard, s) for s, _ in _histogram(search, shard, batch, 1, out))
                batch, size = [], 0
            batch.append((lo, hi))
            size += hi - lo
        if batch:
            live.update(code(shard, s) for s, _ in _histogram(search, shard, batch, 1, out))
    return live


def _histogram(search: ShardSearch, shard: int, ranges: list[tuple[int, int]], interval: int,
               out: Gone) -> Iterator[tuple[int, int]]:
    """(bucket start, documents) of one shard's live `_seq_no` values in `ranges` ([lo, hi))."""
    clauses = [{"range": {"_seq_no": {"gte": lo, "lt": hi}}} for lo, hi in ranges]
    query = clauses[0] if len(clauses) == 1 else {"bool": {"should": clauses, "minimum_should_match": 1}}
    body = {"size": 0, "track_total_hits": False, "query": query,
            "aggs": {"s": {"histogram": {"field": "_seq_no", "interval": interval, "min_doc_count": 1}}}}
    out.requests += 1
    r = search(shard, body)
    failures = (r.get("_shards") or {}).get("failures")
    if failures or r.get("timed_out"):
        raise ClusterError(f"shard {shard}: the _seq_no histogram failed ({str(failures)[:300]}); retry the backup")
    for bucket in ((r.get("aggregations") or {}).get("s") or {}).get("buckets") or []:
        yield int(bucket["key"]), int(bucket["doc_count"])
