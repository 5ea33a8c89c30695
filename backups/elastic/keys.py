"""Document keys and the id lists an incremental dump compares (docs/repository-format.md).

A document's key is the 16-byte BLAKE2b of its routing and `_id` (the same `_id` may live
under two routings, as two documents). Each layer of an index's stream has an id list in
the repository: its records, `key (16 bytes) + line number (4 bytes, big-endian)`, sorted
by key. Memory stays flat whatever the index holds: records live in 256 byte arrays (by
the key's first byte: keys are uniformly spread) and are sorted one array at a time; a
previous snapshot's lists are merged as streams, never loaded as a whole.
"""
from __future__ import annotations

import bisect
import hashlib
import heapq
import struct
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

KEY = 16
RECORD = KEY + 4        # key + line number
KEYS_FORMAT = "keys-v1"
DEAD_FORMAT = "dead-v1"  # sorted line numbers, 4 bytes big-endian each


def doc_key(_id: str, routing: str | None) -> bytes:
    """The key of a document: its routing (absent and empty differ) and its `_id`."""
    if routing is None:
        return _blake2b(b"\x00" + _id.encode(), digest_size=KEY).digest()
    return _blake2b(b"\x01" + routing.encode() + b"\x00" + _id.encode(), digest_size=KEY).digest()


_blake2b = hashlib.blake2b
_LINE = struct.Struct(">I").pack
_NEXT = [bytes([b + 1]) for b in range(255)]


class Sorter:
    """Fixed-width records (a key first) collected in any order, given back sorted.

    Each batch is sorted (C), then cut by the first byte into 256 byte arrays; each array is
    sorted again when given back. No Python work per record but one slice at the end."""

    def __init__(self, width: int) -> None:
        self.width = width
        self.buckets = [bytearray() for _ in range(256)]
        self.count = 0

    def add_keys(self, keys: list[bytes], first_line: int | None = None) -> None:
        """Keys in line order; with `first_line`, each becomes a record with its line number."""
        if not keys:
            return
        recs = keys if first_line is None else list(map(bytes.__add__, keys, map(_LINE, range(first_line, first_line + len(keys)))))
        recs.sort()
        lo, n = 0, len(recs)
        while lo < n:
            b = recs[lo][0]
            hi = n if b == 255 else bisect.bisect_left(recs, _NEXT[b], lo)
            self.buckets[b] += b"".join(recs[lo:hi])
            lo = hi
        self.count += n

    def sorted_parts(self) -> Iterator[bytes]:
        """The records sorted, a bucket at a time (each bucket freed as it goes)."""
        w = self.width
        for n, b in enumerate(self.buckets):
            if b:
                recs = [b[i:i + w] for i in range(0, len(b), w)]
                recs.sort()
                yield b"".join(recs)
            self.buckets[n] = bytearray()


def records(parts: Iterable[bytes], width: int) -> Iterator[bytes]:
    """Fixed-width records from a byte stream cut anywhere."""
    tail = b""
    for part in parts:
        buf = tail + part if tail else part
        end = len(buf) - len(buf) % width
        for i in range(0, end, width):
            yield buf[i:i + width]
        tail = buf[end:]
    if tail:
        raise ValueError(f"an id list ends with {len(tail)} bytes of a {width}-byte record: it is damaged")


def dead_lines(parts: Iterable[bytes]) -> array[int]:
    """A dead-lines stream (sorted line numbers) as an array."""
    out = array("I")
    for rec in records(parts, 4):
        out.append(int.from_bytes(rec, "big"))
    return out


def dead_bytes(lines: array[int]) -> bytes:
    return b"".join(n.to_bytes(4, "big") for n in lines)


def _live(parts: Iterable[bytes], layer: int, dead: array[int]) -> Iterator[tuple[bytes, int, int]]:
    for rec in records(parts, RECORD):
        line = int.from_bytes(rec[KEY:], "big")
        i = bisect.bisect_left(dead, line)
        if i < len(dead) and dead[i] == line:
            continue
        yield rec[:KEY], layer, line


def live_documents(runs: list[tuple[Iterable[bytes], int, array[int]]]) -> Iterator[tuple[bytes, int, int]]:
    """(key, layer, line) of every live document of a composed index, sorted by key: `runs`
    holds each sorted run of the layers' id lists, with its layer and that layer's dead lines."""
    return heapq.merge(*(_live(parts, layer, dead) for parts, layer, dead in runs))


class Inconsistent(Exception):
    """Two layers hold the same live key: the previous snapshot cannot be trusted."""


@dataclass
class Delta:
    """What comparing the previous snapshot, the current ids and the delta gave."""
    dead: dict[int, list[int]] = field(default_factory=dict)   # older layer -> lines now dead
    carried: int = 0      # documents of older layers still live
    deleted: int = 0      # documents of the previous snapshot gone from the index


_END = b"\xff" * (KEY + 1)


def compare(previous: Iterator[tuple[bytes, int, int]], current: Iterator[bytes] | None,
            delta: Iterator[bytes]) -> Delta:
    """Merge-join three key-sorted streams: the previous snapshot's live documents, the
    keys the index holds (an ids-only read, before or after the delta read) and the
    delta's records. A document of the delta supersedes its older line; one the ids read
    does not hold and the delta does not either was deleted; one only the ids read holds
    was added and deleted again between the reads (left out), or added after the delta
    read (the next run reads it). `current` None: nothing was deleted (every older
    document the delta does not hold is carried)."""
    out = Delta()
    every = current is None
    p, c, d = next(previous, None), next(current, _END) if current is not None else _END, next(delta, _END)
    last = b""
    while p is not None or c is not _END or d is not _END:
        k = min(p[0] if p is not None else _END, c, d[:KEY])
        if k <= last and last:
            raise Inconsistent("the same document twice in one id list")
        last = k
        in_p = p is not None and p[0] == k
        if in_p and p is not None and (d[:KEY] == k or (c != k and not every)):
            out.dead.setdefault(p[1], []).append(p[2])
            out.deleted += d[:KEY] != k
        elif in_p:
            out.carried += 1
        if in_p:
            p = next(previous, None)
        if c == k and current is not None:
            c = next(current, _END)
        if d[:KEY] == k:
            d = next(delta, _END)
    return out


def lines_of(run: bytes, keys: Iterable[bytes]) -> list[int]:
    """The line numbers an id list's sorted run gives `keys` (those of them it holds): the
    keys in order, each searched from where the one before it was (a gallop, then a binary
    search: a few steps a key when they are many)."""
    n = len(run) // RECORD
    out = []
    lo = 0
    for k in sorted(keys):
        hi, step = lo, 1
        while hi < n and run[hi * RECORD:hi * RECORD + KEY] < k:
            lo, hi, step = hi + 1, hi + step, step << 1
        hi = min(hi, n)
        while lo < hi:
            mid = (lo + hi) // 2
            if run[mid * RECORD:mid * RECORD + KEY] < k:
                lo = mid + 1
            else:
                hi = mid
        if lo < n and run[lo * RECORD:lo * RECORD + KEY] == k:
            out.append(int.from_bytes(run[lo * RECORD + KEY:(lo + 1) * RECORD], "big"))
    return out
