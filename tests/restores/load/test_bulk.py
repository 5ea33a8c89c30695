"""Bulk bodies from dump lines (restores/load/bulk.py Batches): no server."""
from __future__ import annotations

import tracemalloc
from collections.abc import Iterator

from restores.load.bulk import Batches


def _lines(n: int) -> Iterator[bytes]:
    for i in range(n):
        yield b'{"_id":"d%d","_source":{"message":"%s","n":%d}}' % (i, b"x" * 600, i)


def test_a_bulk_is_held_once_while_it_is_built() -> None:
    tracemalloc.start()
    try:
        batch = next(iter(Batches(_lines(20_000), op="index", bulk_bytes=8 << 20, bulk_docs=0)))
        size = len(batch.body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert size >= 8 << 20
    # joining a list of its pieces held the pieces and the body at once: twice the bulk
    assert peak < 1.4 * size, (peak, size)


def test_bulk_bodies_are_action_and_source_lines_with_each_documents_offsets() -> None:
    lines = [b'{"_id":"a","_source":{"x":1}}', b'', b'{"_id":"b\\"q","_routing":"r1","_source":{"y":[1,2]}}']
    (batch,) = Batches(lines, op="create", bulk_bytes=1 << 20, bulk_docs=0)
    assert bytes(batch.body) == (b'{"create":{"_id":"a"}}\n{"x":1}\n'
                                 b'{"create":{"_id":"b\\"q","routing":"r1"}}\n{"y":[1,2]}\n')
    assert batch.n == 2
    assert batch.item(1) == b'{"create":{"_id":"b\\"q","routing":"r1"}}\n{"y":[1,2]}\n'
    assert bytes(batch.subset([1]).body) == batch.item(1)
