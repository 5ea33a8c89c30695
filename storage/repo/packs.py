"""v2 pack files: chunk blobs appended one after another, then an encrypted header that
lists them, then a trailer, so that a pack can be re-indexed from itself.

    blob 0 | blob 1 | … | nonce + AES-GCM(header records) + tag | u32 header length | SBP\\x02

A blob is exactly a v1 chunk object (magic, flags, nonce, ciphertext bound to the chunk
id), so a v1 chunk is moved into a pack by copying its bytes, and a repack copies blobs
without decrypting them. The pack id is the sha256 of the whole pack.
"""
from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .format import PACK_HEADER_AAD, PACK_MAGIC

if TYPE_CHECKING:
    from .crypto import Cipher

# chunk id, offset in the pack, stored length, plaintext size
HEADER_RECORD = struct.Struct("<32sIII")
TRAILER = struct.Struct("<I4s")


@dataclass(frozen=True)
class Blob:
    chunk_id: str
    offset: int
    length: int
    size: int  # plaintext bytes


class PackBuilder:
    """Collects sealed chunks into one pack; not thread-safe (the pack store guards it)."""

    def __init__(self) -> None:
        self.buf = bytearray()
        self.blobs: list[Blob] = []

    def __len__(self) -> int:
        return len(self.buf)

    def add(self, chunk_id: str, sealed: bytes | memoryview, size: int) -> None:
        self.blobs.append(Blob(chunk_id, len(self.buf), len(sealed), size))
        self.buf += sealed

    def finish(self, cipher: Cipher) -> tuple[str, bytearray]:
        """(pack id, the pack's bytes, not copied); the builder is empty afterwards."""
        header = b"".join(HEADER_RECORD.pack(bytes.fromhex(b.chunk_id), b.offset, b.length, b.size)
                          for b in self.blobs)
        sealed = cipher.seal(PACK_HEADER_AAD, header)
        self.buf += sealed
        self.buf += TRAILER.pack(len(sealed), PACK_MAGIC)
        data, self.buf = self.buf, bytearray()
        return hashlib.sha256(data).hexdigest(), data


def parse_pack(cipher: Cipher, data: bytes, what: str = "pack") -> list[Blob]:
    """The blobs a pack's own header lists (raises ValueError or DecryptError when damaged)."""
    if len(data) < TRAILER.size or data[-4:] != PACK_MAGIC:
        raise ValueError(f"{what} is not a pack (bad trailer)")
    header_len, _ = TRAILER.unpack(data[-TRAILER.size:])
    start = len(data) - TRAILER.size - header_len
    if start < 0:
        raise ValueError(f"{what}: header length {header_len} exceeds the pack")
    header = cipher.open(PACK_HEADER_AAD, data[start:len(data) - TRAILER.size], f"{what} header")
    if len(header) % HEADER_RECORD.size:
        raise ValueError(f"{what}: header of {len(header)} bytes is not whole records")
    blobs = []
    for raw, offset, length, size in HEADER_RECORD.iter_unpack(header):
        if offset + length > start:
            raise ValueError(f"{what}: blob {raw.hex()} runs past the blobs' end")
        blobs.append(Blob(raw.hex(), offset, length, size))
    return blobs
