"""Deterministic NDJSON-like test streams, generated on the fly (never stored)."""
from __future__ import annotations

import random
from collections.abc import Iterator

BLOCK = 1 << 20


def ndjson_stream(size: int, seed: int = 0, *, block: int = BLOCK) -> Iterator[bytes]:
    """`size` bytes of JSON lines (documents with random ids and words), in ~block pieces.

    Compresses about 2-3x like real index dumps; the same seed gives the same bytes.
    """
    rng = random.Random(seed)
    vocab = [rng.randbytes(rng.randint(2, 6)).hex().encode() for _ in range(4096)]
    produced = 0
    doc = 0
    while produced < size:
        lines = []
        n = 0
        while n < block:
            words = b" ".join(rng.choices(vocab, k=10))
            line = (b'{"_id":"%d","ts":%d,"user":"%s","msg":"%s","n":%d}\n'
                    % (doc, 1700000000 + doc * 7, vocab[doc % 4096], words, rng.getrandbits(24)))
            lines.append(line)
            n += len(line)
            doc += 1
        piece = b"".join(lines)[:size - produced]
        produced += len(piece)
        yield piece
