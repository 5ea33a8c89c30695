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
Its buckets' width follows what the shard lost (its live documents counted first): few
losses, wide buckets; many, narrow ones (the two reads ask about fewest values together).
Anything that does not fit (a live code the previous snapshot lacks, a bucket that holds
more than before) raises Unsafe: the index is read in full.

Memory stays flat whatever the index holds: a list being written goes to a temporary file
past SPOOL_LINES lines; the comparison streams the previous lists into ranges of a
temporary file (sorted passes cut at the ranges' bounds), compares one range at a time,
then streams the lists once more to find the lines of the codes gone.
"""
from __future__ import annotations

import math
import sys
import tempfile
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import compress
from typing import IO, Any

from backups.elastic.connection import ClusterError

SEQS_FORMAT = "seqs-v1"
SHIFT = 48
MASK = (1 << SHIFT) - 1
BUCKETS = 20000          # the coarse histogram's buckets per request, at most
RANGES = 400             # ranges per request of the fine read
FINE = 50000             # `_seq_no` values per request of the fine read (search.max_buckets is 65,536)
# Codes held in memory at once, whatever the index holds: a list being written goes to a
# temporary file past this many lines, and the comparison sorts the previous lists into
# ranges of a temporary file, each this many `_seq_no` values of one shard (so at most
# this many live lines), read back one at a time
SPOOL_LINES = 1 << 18
_BLOCK = 1 << 20         # bytes read back from a temporary file at a time

# one search of one shard of the index (body -> response): the delta's view when it has one
ShardSearch = Callable[[int, dict[str, Any]], dict[str, Any]]


class Unsafe(Exception):
    """A delta cannot be trusted here: read the index in full (the message says why)."""


def code(shard: int, seq_no: int) -> int:
    return shard << SHIFT | seq_no


def seqs_name(index: str, n: int) -> str:
    return f"seqs/{index}/{n}"


def _le(codes: array[int]) -> bytes:
    if sys.byteorder == "little":
        return codes.tobytes()
    out = array("Q", codes)
    out.byteswap()
    return out.tobytes()


def _from_le(data: bytes) -> array[int]:
    out = array("Q")
    out.frombytes(data)
    if sys.byteorder == "big":
        out.byteswap()
    return out


class SeqList:
    """A layer's codes in line order, as its pages come, past SPOOL_LINES in a temporary
    file (memory stays flat); `ok` False once a page had none (the layer then has no
    sequence list: the next delta finds deletions by the ids read)."""

    def __init__(self) -> None:
        self.codes = array("Q")      # the lines not in the file yet
        self.count = 0
        self.ok = True
        self._file: IO[bytes] | None = None

    def add(self, codes: list[int] | None, docs: int) -> None:
        if not self.ok:
            return
        if codes is None or len(codes) != docs:
            self.ok = False
            self.close()
            return
        self.codes.extend(codes)
        self.count += docs
        if len(self.codes) >= SPOOL_LINES:
            if self._file is None:
                self._file = tempfile.TemporaryFile(prefix="stashboard-seqs-")  # noqa: SIM115 - closed by close()
            self._file.write(_le(self.codes))
            self.codes = array("Q")

    def parts(self) -> Iterator[bytes]:
        """The list's bytes (uint64 little-endian a line), a block at a time."""
        if self._file is not None:
            self._file.seek(0)
            while block := self._file.read(_BLOCK):
                yield block
        if self.codes:
            yield _le(self.codes)

    def write(self, writer: Any, name: str) -> str:
        try:
            writer.add_stream(name, self.parts(), meta={"format": SEQS_FORMAT, "records": self.count})
        finally:
            self.close()
        return name

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self.codes = array("Q")


def arrays(parts: Iterable[bytes]) -> Iterator[array[int]]:
    """A sequence list's codes from its bytes cut anywhere, SPOOL_LINES at most at a time."""
    tail, step = b"", SPOOL_LINES * 8
    for part in parts:
        buf = tail + part if tail else part
        end = len(buf) - len(buf) % 8
        for i in range(0, end, step):
            yield _from_le(buf[i:min(i + step, end)])
        tail = buf[end:]
    if tail:
        raise Unsafe(f"a sequence list ends with {len(tail)} bytes of an 8-byte line: it is damaged")


@dataclass
class Previous:
    """The previous snapshot's layers as the comparison needs them: per layer, its sequence
    list's bytes (asked again for each pass: never held whole), its lines, its dead lines (sorted)."""
    lists: list[Callable[[], Iterable[bytes]]]
    lines: list[int]
    dead: list[array[int]]


@dataclass
class Gone:
    """What the comparison found: per layer, the lines whose document is no longer live at or
    below `since`, and the lines above it (every one of them dead: re-read by the delta, or gone)."""
    below: dict[int, list[int]] = field(default_factory=dict)
    above: dict[int, list[int]] = field(default_factory=dict)
    live_below: int = 0              # previous documents live at or below `since`, before the comparison
    requests: int = 0
    held: int = 0                    # the most previous codes at or below `since` in memory at once (a range)


def _width(search: ShardSearch, shard: int, since: int, below: int, span: int, out: Gone) -> tuple[int, int]:
    """k, for coarse buckets of 2^k `_seq_no` values: the shard's documents live at or below
    `since` counted (one request), the previous snapshot's `below` less them are lost; the
    coarse read asks about (since + 1) / 2^k buckets and the fine one about lost * 2^k values,
    fewest when 2^k is near sqrt((since + 1) / lost). Returns k and the live documents."""
    body = {"size": 0, "track_total_hits": True, "query": {"range": {"_seq_no": {"lte": since}}}}
    out.requests += 1
    r = _checked(shard, search(shard, body))
    live = int(((r.get("hits") or {}).get("total") or {}).get("value", -1))
    if live < 0 or live > below:
        raise Unsafe(f"shard {shard} holds {live} documents at or below _seq_no {since} where the previous "
                     f"snapshot had {below}")
    k = round(math.log2((since + 1) / max(below - live, 1)) / 2)
    return max(0, min(k, span.bit_length() - 1)), live


def _without(codes: array[int], first: int, dead: array[int]) -> array[int]:
    """`codes` (lines `first`...) less the dead lines among them."""
    i, end = bisect_left(dead, first), bisect_left(dead, first + len(codes))
    if i == end:
        return codes
    out, pos = array("Q"), 0
    for line in dead[i:end]:
        out.extend(codes[pos:line - first])
        pos = line - first + 1
    out.extend(codes[pos:])
    return out


class _Ranges:
    """The previous snapshot's live codes sorted into ranges of a temporary file: per shard,
    [0, since] cut every `span` `_seq_no` values, then (since, the shard's end). Each pass
    of SPOOL_LINES codes is sorted and cut at the ranges' bounds; a range is read back whole."""

    def __init__(self, since: int, shards: int, span: int, file: IO[bytes]) -> None:
        self.since, self.shards, self.file = since, shards, file
        self.ranges = [(shard, lo) for shard in range(shards) for lo in [*range(0, since + 1, span), since + 1]]
        self.bounds = [code(shard, lo) for shard, lo in self.ranges] + [code(shards, 0)]
        self.pieces: list[list[tuple[int, int]]] = [[] for _ in self.ranges]
        self.counts = [0] * len(self.ranges)
        self.size = 0

    def fill(self, prev: Previous) -> None:
        buf = array("Q")
        for j, parts in enumerate(prev.lists):
            n, dead = 0, prev.dead[j]
            for codes in arrays(parts()):
                buf.extend(_without(codes, n, dead))
                n += len(codes)
                if len(buf) >= SPOOL_LINES:
                    self._put(buf)
                    buf = array("Q")
            if n != prev.lines[j]:
                raise Unsafe(f"layer {j}'s sequence list holds {n} lines, the layer {prev.lines[j]}")
        if buf:
            self._put(buf)

    def _put(self, buf: array[int]) -> None:
        s = sorted(buf)
        if s[-1] >= self.bounds[-1]:
            raise Unsafe(f"a sequence list names shard {s[-1] >> SHIFT} of an index of {self.shards}")
        lo = 0
        while lo < len(s):
            i = bisect_right(self.bounds, s[lo]) - 1
            hi = bisect_left(s, self.bounds[i + 1], lo)
            data = _le(array("Q", s[lo:hi]))
            self.file.write(data)
            self.pieces[i].append((self.size, len(data)))
            self.counts[i] += hi - lo
            self.size += len(data)
            lo = hi

    def each(self, i: int) -> Iterator[array[int]]:
        """Range i's pieces, each sorted."""
        for offset, size in self.pieces[i]:
            self.file.seek(offset)
            yield _from_le(self.file.read(size))

    def load(self, i: int) -> list[int]:
        """Range i's codes, sorted (its pieces are sorted runs: one merge)."""
        out = array("Q")
        for piece in self.each(i):
            out.extend(piece)
        return sorted(out)


def find_gone(prev: Previous, since: int, shards: int, search: ShardSearch) -> Gone:
    """Compare the previous snapshot's live codes with what the server holds (see the module),
    one range of `_seq_no` values at a time, then place each code gone at its layer and line."""
    out = Gone()
    span = 1 << max(SPOOL_LINES.bit_length() - 1, 0)    # ranges of 2^n values: a multiple of any bucket width
    gone: set[int] = set()
    above: set[int] = set()
    with tempfile.TemporaryFile(prefix="stashboard-seqs-") as file:
        ranges = _Ranges(since, shards, span, file)
        ranges.fill(prev)
        for shard in range(shards):
            mine = [i for i, (s, _) in enumerate(ranges.ranges) if s == shard]
            below = sum(ranges.counts[i] for i in mine[:-1])   # the last is above `since`
            out.live_below += below
            k, live = _width(search, shard, since, below, span, out) if len(mine) > 1 else (0, 0)
            for i in mine[:-1]:
                if not ranges.counts[i]:   # none before, so none now: the count below proves it
                    continue
                lo, hi = ranges.ranges[i][1], ranges.ranges[i + 1][1]
                codes = ranges.load(i)
                out.held = max(out.held, len(codes))
                buckets = _coarse(search, shard, lo, hi, k, out)
                live -= sum(n for _, n in buckets)
                gone.update(_range_gone(search, shard, codes, buckets, k, since, out))
            if live:
                raise Unsafe(f"shard {shard} holds {live} documents at or below _seq_no {since} where the previous "
                             "snapshot had none")
            for piece in ranges.each(mine[-1]):    # lines the delta reads again: as many as it holds
                above.update(piece)
    _place(prev, gone, above, out)
    return out


def _coarse(search: ShardSearch, shard: int, lo: int, hi: int, k: int, out: Gone) -> list[tuple[int, int]]:
    """(start, documents) of the buckets of 2^k values in [lo, hi), BUCKETS at most a request."""
    step = BUCKETS << k
    return [b for start in range(lo, hi, step) for b in _histogram(search, shard, [(start, min(start + step, hi))],
                                                                    1 << k, out)]


def _range_gone(search: ShardSearch, shard: int, codes: list[int], buckets: list[tuple[int, int]], k: int,
                since: int, out: Gone) -> list[int]:
    """The codes of one range (sorted) no longer live: its buckets (start, documents) of the
    coarse histogram compared with the codes' counts; the buckets that lost some read exactly."""
    w = 1 << k
    gone: list[int] = []
    dirty: list[int] = []                   # buckets (code >> k) that lost documents
    slices: list[tuple[int, int]] = []      # ...and their codes
    pos = 0
    for start, n in buckets:
        first = bisect_left(codes, code(shard, start), pos)
        last = bisect_left(codes, code(shard, start + w), first)
        if n > last - first:
            raise Unsafe(f"shard {shard} holds {n} documents in _seq_no [{start}, {start + w}) where the "
                         f"previous snapshot had {last - first}")
        gone += codes[pos:first]            # buckets with no live document left
        if n < last - first:
            dirty.append(code(shard, start) >> k)
            slices.append((first, last))
        pos = last
    gone += codes[pos:]
    if dirty:
        live = _fine(search, {shard: dirty}, k, since, out)
        held: set[int] = set()
        for first, last in slices:
            held.update(codes[first:last])
        if not live <= held:
            raise Unsafe(f"{len(live - held)} live documents at or below _seq_no {since} are not in the previous "
                         "snapshot")
        gone += held - live
    return gone


def _place(prev: Previous, gone: set[int], above: set[int], out: Gone) -> None:
    """Each code gone (below `since`) or above it at its layer and line: the lists read once more."""
    wanted = gone | above
    placed = 0
    for j, parts in enumerate(prev.lists):
        if not wanted:
            break
        n, dead = 0, prev.dead[j]
        for codes in arrays(parts()):
            for line in compress(range(n, n + len(codes)), map(wanted.__contains__, codes)):
                d = bisect_left(dead, line)
                if d < len(dead) and dead[d] == line:
                    continue
                (out.above if codes[line - n] in above else out.below).setdefault(j, []).append(line)
                placed += 1
            n += len(codes)
    if placed != len(wanted):
        raise Unsafe(f"{len(wanted)} codes gone, {placed} found in the sequence lists")


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
    r = _checked(shard, search(shard, body))
    for bucket in ((r.get("aggregations") or {}).get("s") or {}).get("buckets") or []:
        yield int(bucket["key"]), int(bucket["doc_count"])


def _checked(shard: int, r: dict[str, Any]) -> dict[str, Any]:
    failures = (r.get("_shards") or {}).get("failures")
    if failures or r.get("timed_out"):
        raise ClusterError(f"shard {shard}: a search of _seq_no failed ({str(failures)[:300]}); retry the backup")
    return r
