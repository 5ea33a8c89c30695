from __future__ import annotations

import os
import tracemalloc

from storage.repo.chunkset import ChunkSet


def ids(n: int) -> list[str]:
    return [os.urandom(32).hex() for _ in range(n)]


def test_membership_of_listed_added_and_removed_ids():
    listed = sorted(ids(500))
    s = ChunkSet(listed + ["not-a-chunk", "zz" * 32, ".tmp-1"])
    assert len(s) == 500
    assert all(c in s for c in listed)
    others = ids(500)
    assert not any(c in s for c in others)
    s.add(others[0])
    assert others[0] in s and len(s) == 501
    s.discard_all([listed[0], others[0]])
    assert listed[0] not in s and others[0] not in s and len(s) == 499
    s.add(listed[0])   # uploaded again after a prune removed it
    assert listed[0] in s
    assert "" not in s and "ab" not in s and None not in s


def test_an_unordered_listing_is_sorted_first():
    listed = ids(300)
    s = ChunkSet(listed)
    assert all(c in s for c in listed)
    assert not any(c in s for c in ids(300))


def test_listed_chunks_cost_32_bytes_each():
    listed = sorted(ids(200_000))
    tracemalloc.start()
    try:
        s = ChunkSet(iter(listed))
        held = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    assert held < 200_000 * 40    # a set of the hex strings would hold ~150 bytes each
    assert listed[12345] in s
