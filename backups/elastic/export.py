"""Reading an index's dump stream back for people: the first documents, or the whole
index as `_bulk` NDJSON. Streaming, no Django: memory holds one repository chunk and one
line, never the index.

A dump line is `{"_id": …, "_routing"?: …, "_source": {…}}` (dump.FORMAT); `_source`
stays the bytes the cluster sent, so numbers beyond int64/double keep their digits."""
from __future__ import annotations

import re
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass

import orjson

_LINE = re.compile(rb'\{"_id":("(?:[^"\\]|\\.)*")(?:,"_routing":("(?:[^"\\]|\\.)*"))?,"_source":')


@dataclass
class Document:
    id: str
    routing: str | None
    source: bytes         # the raw JSON object


def lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """The stream's lines, across chunk boundaries."""
    rest = b""
    for chunk in chunks:
        if not chunk:
            continue
        parts = (rest + chunk if rest else bytes(chunk)).split(b"\n")
        rest = parts.pop()
        yield from (p for p in parts if p)
    if rest:
        yield rest


def documents(chunks: Iterable[bytes]) -> Generator[Document, None, None]:
    for n, line in enumerate(lines(chunks), 1):
        m = _LINE.match(line)
        if m is None or not line.endswith(b"}"):
            raise ValueError(f"line {n} of the stream is not a dump line: {line[:120]!r}")
        routing = m.group(2)
        yield Document(id=orjson.loads(m.group(1)), routing=orjson.loads(routing) if routing else None,
                       source=line[m.end():-1])


def first_documents(chunks: Iterable[bytes], n: int) -> list[Document]:
    """The first `n` documents; the rest of the stream is never read (closing the
    generator stops the chunk reads)."""
    out: list[Document] = []
    docs = documents(chunks)
    try:
        for doc in docs:
            if len(out) >= n:
                break
            out.append(doc)
    finally:
        docs.close()   # closes the chunk reader inside it: no read-ahead goes on
    return out


def bulk_ndjson(chunks: Iterable[bytes], *, batch_bytes: int = 1 << 20) -> Iterator[bytes]:
    """The index as `_bulk` request lines: `{"index":{"_id":…,"routing":…}}` then the
    source, each followed by a newline. No `_index` in the actions, so the file loads into
    whichever index its URL names: `POST /NAME/_bulk`. Yields pieces of about
    `batch_bytes`."""
    parts: list[bytes] = []
    size = 0
    for line in lines(chunks):
        m = _LINE.match(line)
        if m is None or not line.endswith(b"}"):
            raise ValueError(f"the stream holds a line that is not a dump line: {line[:120]!r}")
        routing = m.group(2)
        action = b'{"index":{"_id":' + m.group(1) + (b',"routing":' + routing if routing else b"") + b"}}\n"
        parts += (action, line[m.end():-1], b"\n")
        size += len(action) + len(line) - m.end()
        if size >= batch_bytes:
            yield b"".join(parts)
            parts, size = [], 0
    if parts:
        yield b"".join(parts)
