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
import tempfile
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from .format import PACK_HEADER_AAD, PACK_MAGIC, pack_key

if TYPE_CHECKING:
    from storage.backends import Backend

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
    """Collects sealed chunks into one pack, spooled to an anonymous temporary file (in
    `directory`, default the system's: $TMPDIR or /tmp) so that a pack costs no memory:
    on Linux the file never has a name (O_TMPFILE), elsewhere it is unlinked at once, so
    it goes when closed or when the process dies. Not thread-safe (the pack store guards it)."""

    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory
        self.blobs: list[Blob] = []
        self._file: BinaryIO | None = None   # created by the first add
        self._sha = hashlib.sha256()
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def _spool(self) -> BinaryIO:
        if self._file is None:
            # closed by finish()'s caller or by close(), both in a finally
            self._file = tempfile.TemporaryFile(prefix="stashboard-pack-", dir=self.directory)  # noqa: SIM115
        return self._file

    def add(self, chunk_id: str, sealed: bytes | memoryview, size: int) -> None:
        self._spool().write(sealed)
        self._sha.update(sealed)
        self.blobs.append(Blob(chunk_id, self._size, len(sealed), size))
        self._size += len(sealed)

    def finish(self, cipher: Cipher) -> tuple[str, BinaryIO]:
        """(pack id, the whole pack as a file at its start); the caller closes the file."""
        header = b"".join(HEADER_RECORD.pack(bytes.fromhex(b.chunk_id), b.offset, b.length, b.size)
                          for b in self.blobs)
        sealed = cipher.seal(PACK_HEADER_AAD, header)
        tail = sealed + TRAILER.pack(len(sealed), PACK_MAGIC)
        f, self._file = self._spool(), None
        f.write(tail)
        self._sha.update(tail)
        f.flush()
        f.seek(0)
        return self._sha.hexdigest(), f

    def close(self) -> None:
        """Drop an unfinished pack's file (finish() hands the file over instead)."""
        if self._file is not None:
            self._file.close()
            self._file = None


class PackSink:
    """Sealed blobs into packs of about `target` bytes, each uploaded from its spool file as
    soon as it is full, one at a time: how migrate and prune's repack write packs (a
    backup's writer uses the pack store's upload pool instead). `written` is {pack id:
    its blobs} for the index; finish() uploads the last pack. Left without finish()
    (an error), the unfinished pack's file is dropped."""

    def __init__(self, backend: Backend, cipher: Cipher, target: int) -> None:
        self.backend, self.cipher, self.target = backend, cipher, target
        self.written: dict[str, list[Blob]] = {}
        self._builder = PackBuilder()

    def add(self, chunk_id: str, sealed: bytes | memoryview, size: int) -> None:
        self._builder.add(chunk_id, sealed, size)
        if len(self._builder) >= self.target:
            self._flush()

    def _flush(self) -> None:
        builder, self._builder = self._builder, PackBuilder()
        pack_id, spooled = builder.finish(self.cipher)
        with spooled:
            self.backend.put(pack_key(pack_id), spooled)
        self.written[pack_id] = builder.blobs

    def finish(self) -> dict[str, list[Blob]]:
        if self._builder.blobs:
            self._flush()
        return self.written

    def __enter__(self) -> PackSink:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._builder.close()


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
