"""The set of chunk ids a writer knows to be stored, in 32 bytes per chunk.

A writer lists `data/` once to learn which chunks exist. Held as a Python set of hex
strings that costs ~150 bytes per chunk: 147 MB for a million chunks (about 1 TiB of
unique data at 1 MiB per chunk), which alone would break a worker's memory budget. Here
the listed ids are one sorted `bytes` of 32-byte ids, searched by bisection; chunks added
or removed by this process are kept in small sets beside it.
"""
from __future__ import annotations

import bisect
from collections.abc import Iterable

ID_BYTES = 32


class _Records:
    """The fixed-width records of a bytes object as a sequence, for bisect."""

    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data) // ID_BYTES

    def __getitem__(self, i: int) -> bytes:
        return self.data[i * ID_BYTES:(i + 1) * ID_BYTES]


def _raw(chunk_id: str) -> bytes | None:
    if len(chunk_id) != 2 * ID_BYTES:
        return None
    try:
        return bytes.fromhex(chunk_id)
    except ValueError:
        return None


class ChunkSet:
    """Membership of hex chunk ids. Not thread-safe: the repository guards it with a lock."""

    def __init__(self, listed: Iterable[str] = ()) -> None:
        buf = bytearray()
        last = b""
        ordered = True
        for name in listed:
            raw = _raw(name)
            if raw is None:
                continue  # not a chunk (a stray file in data/)
            if raw < last:
                ordered = False
            buf += raw
            last = raw
        if not ordered:
            # Every backend lists in key order (the object stores by contract, the local
            # backend sorts), so this costs transient memory only on an odd backend.
            records = _Records(bytes(buf))
            buf = bytearray(b"".join(sorted(records[i] for i in range(len(records)))))
        self._sorted = _Records(bytes(buf))
        self._added: set[str] = set()
        self._removed: set[str] = set()

    def __len__(self) -> int:
        return len(self._sorted) - len(self._removed) + len(self._added)

    def _listed(self, chunk_id: str) -> bool:
        raw = _raw(chunk_id)
        if raw is None:
            return False
        i = bisect.bisect_left(self._sorted, raw)
        return i < len(self._sorted) and self._sorted[i] == raw

    def __contains__(self, chunk_id: object) -> bool:
        if not isinstance(chunk_id, str):
            return False
        if chunk_id in self._added:
            return True
        return chunk_id not in self._removed and self._listed(chunk_id)

    def add(self, chunk_id: str) -> None:
        if chunk_id in self._removed:
            self._removed.discard(chunk_id)   # listed, removed, stored again
        elif not self._listed(chunk_id):
            self._added.add(chunk_id)

    def discard_all(self, chunk_ids: Iterable[str]) -> None:
        for c in chunk_ids:
            self._added.discard(c)
            if self._listed(c):
                self._removed.add(c)
