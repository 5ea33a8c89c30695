"""backups/elastic/export.py: an index's dump stream read back as documents (stopping
early) or as `_bulk` NDJSON (sources byte for byte)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from backups.elastic.export import bulk_ndjson, documents, first_documents

BIG = b'{"n":123456789012345678901234567890,"msg":"x\\"y"}'   # beyond int64: must keep its digits


def _stream() -> bytes:
    return (b'{"_id":"a","_source":{"n":1}}\n'
            b'{"_id":"b\\"q","_routing":"r1","_source":' + BIG + b"}\n"
            b'{"_id":"c","_source":{}}\n')


def _chunks(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)]


@pytest.mark.parametrize("size", [1, 7, 1000])   # lines cut anywhere by chunk boundaries
def test_documents_come_back_whatever_the_chunk_boundaries(size: int) -> None:
    docs = list(documents(_chunks(_stream(), size)))
    assert [(d.id, d.routing) for d in docs] == [("a", None), ('b"q', "r1"), ("c", None)]
    assert docs[1].source == BIG


def test_bulk_lines_keep_ids_routing_and_the_source_bytes() -> None:
    out = b"".join(bulk_ndjson(_chunks(_stream(), 5), batch_bytes=10)).splitlines()
    assert out == [b'{"index":{"_id":"a"}}', b'{"n":1}',
                   b'{"index":{"_id":"b\\"q","routing":"r1"}}', BIG,
                   b'{"index":{"_id":"c"}}', b"{}"]


def test_a_line_that_is_not_a_dump_line_is_refused() -> None:
    with pytest.raises(ValueError, match="line 2 of the stream is not a dump line"):
        list(documents([b'{"_id":"a","_source":{}}\n{"oops":1}\n']))


def test_the_first_documents_read_only_the_chunks_they_need() -> None:
    read = []
    closed = []

    def chunks() -> Iterator[bytes]:
        try:
            for i in range(1000):
                read.append(i)
                yield b"".join(b'{"_id":"%d-%d","_source":{}}\n' % (i, j) for j in range(10))
        finally:
            closed.append(True)   # the repository reader's clean-up (its thread pool) runs

    docs = first_documents(chunks(), 25)
    assert [d.id for d in docs][:2] == ["0-0", "0-1"] and len(docs) == 25
    assert len(read) == 3 and closed == [True]
