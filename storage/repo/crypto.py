"""Keys, the password KDF, and the encrypted envelopes of chunks and manifests."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import zstandard

from .format import CHUNK_MAGIC, FLAG_ZSTD, MANIFEST_MAGIC, NONCE_SIZE, ZSTD_LEVEL

# argon2id defaults: 32 MiB, 4 passes, 2 lanes (above OWASP's m=19 MiB, t=2). 64 MiB would
# make opening a repository, not streaming, the peak RSS of a small worker.
ARGON2_DEFAULTS = {"time_cost": 4, "memory_cost": 32768, "parallelism": 2}
SCRYPT_DEFAULTS = {"n": 32768, "r": 8, "p": 1}
KEY_AAD = b"stashboard-key-v1"


def b64e(b: bytes) -> str:
    return base64.b64encode(b).decode()


def b64d(s: str) -> bytes:
    return base64.b64decode(s)


def derive_key(password: bytes, salt: bytes, kdf: str, params: dict[str, int]) -> bytes:
    """A 32-byte key from the password."""
    if kdf == "argon2id":
        from argon2.low_level import Type, hash_secret_raw

        return hash_secret_raw(password, salt, time_cost=params["time_cost"],
                               memory_cost=params["memory_cost"],
                               parallelism=params["parallelism"], hash_len=32, type=Type.ID)
    if kdf == "scrypt":
        return hashlib.scrypt(password, salt=salt, n=params["n"], r=params["r"], p=params["p"],
                              maxmem=256 << 20, dklen=32)
    raise ValueError(f"unknown KDF {kdf!r}")


@dataclass(frozen=True)
class MasterKeys:
    encryption: bytes  # AES-256-GCM key for chunks and manifests
    mac: bytes         # HMAC-SHA256 key for chunk ids

    @classmethod
    def generate(cls) -> MasterKeys:
        return cls(os.urandom(32), os.urandom(32))

    def to_json(self) -> bytes:
        return json.dumps({"encryption": b64e(self.encryption), "mac": b64e(self.mac)}).encode()

    @classmethod
    def from_json(cls, data: bytes) -> MasterKeys:
        d = json.loads(data)
        return cls(b64d(d["encryption"]), b64d(d["mac"]))


def wrap_keys(keys: MasterKeys, password: bytes, *, kdf: str = "argon2id",
              params: dict[str, int] | None = None, extra: dict[str, Any] | None = None) -> bytes:
    """The JSON document stored at keys/<id>."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    params = dict(params or (ARGON2_DEFAULTS if kdf == "argon2id" else SCRYPT_DEFAULTS))
    salt, nonce = os.urandom(16), os.urandom(NONCE_SIZE)
    wrapping = derive_key(password, salt, kdf, params)
    sealed = AESGCM(wrapping).encrypt(nonce, keys.to_json(), KEY_AAD)
    doc = {"version": 1, "kdf": kdf, "kdf_params": params, "salt": b64e(salt),
           "nonce": b64e(nonce), "data": b64e(sealed), **(extra or {})}
    return json.dumps(doc, indent=1).encode()


def unwrap_keys(doc: bytes, password: bytes) -> MasterKeys | None:
    """The master keys, or None when the password does not open this key file."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    d = json.loads(doc)
    wrapping = derive_key(password, b64d(d["salt"]), d["kdf"], d["kdf_params"])
    try:
        plain = AESGCM(wrapping).decrypt(b64d(d["nonce"]), b64d(d["data"]), KEY_AAD)
    except InvalidTag:
        return None
    return MasterKeys.from_json(plain)


class DecryptError(Exception):
    pass


class StreamOpener:
    """update() returns plaintext that is NOT authenticated yet: the caller keeps it aside
    (a temporary file) until finish(tag) has returned, which raises DecryptError unless the
    whole ciphertext is authentic."""

    def __init__(self, decryptor: Any, what: str) -> None:
        self._decryptor, self.what = decryptor, what

    def update(self, ciphertext: bytes | memoryview) -> bytes:
        out: bytes = self._decryptor.update(ciphertext)
        return out

    def finish(self, tag: bytes) -> None:
        from cryptography.exceptions import InvalidTag

        try:
            self._decryptor.finalize_with_tag(tag)
        except InvalidTag:
            raise DecryptError(f"{self.what}: authentication failed (modified or truncated)") from None


class Cipher:
    """Seals and opens chunks and manifests with the master keys. Thread-safe."""

    def __init__(self, keys: MasterKeys, *, level: int = ZSTD_LEVEL) -> None:
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.keys = keys
        self.level = level
        self._aead = AESGCM(keys.encryption)
        self._local = threading.local()

    # zstd (de)compressor objects are not thread-safe: one per thread.
    def _zc(self) -> zstandard.ZstdCompressor:
        z: zstandard.ZstdCompressor | None = getattr(self._local, "zc", None)
        if z is None:
            import zstandard

            z = self._local.zc = zstandard.ZstdCompressor(level=self.level)
        return z

    def _zd(self) -> zstandard.ZstdDecompressor:
        z: zstandard.ZstdDecompressor | None = getattr(self._local, "zd", None)
        if z is None:
            import zstandard

            z = self._local.zd = zstandard.ZstdDecompressor()
        return z

    def chunk_id(self, plaintext: bytes | memoryview) -> str:
        return hmac.digest(self.keys.mac, plaintext, "sha256").hex()

    def seal_chunk(self, chunk_id: str, plaintext: bytes | memoryview) -> bytes:
        compressed = self._zc().compress(plaintext)
        flags, body = FLAG_ZSTD, compressed
        if len(compressed) >= len(plaintext):
            # Incompressible data is stored as is (no zstd frame overhead).
            flags, body = 0, bytes(plaintext)
        nonce = os.urandom(NONCE_SIZE)
        header = CHUNK_MAGIC + bytes([flags])
        # The AAD binds the ciphertext to its header and id: a chunk moved to another
        # id's key fails authentication.
        return header + nonce + self._aead.encrypt(nonce, body, header + chunk_id.encode())

    def open_chunk(self, chunk_id: str, sealed: bytes) -> bytes:
        """The verified plaintext: GCM tag checked, then the keyed hash against the id."""
        from cryptography.exceptions import InvalidTag

        header, nonce, ct = sealed[:5], sealed[5:5 + NONCE_SIZE], sealed[5 + NONCE_SIZE:]
        if header[:4] != CHUNK_MAGIC:
            raise DecryptError("not a chunk object (bad magic)")
        try:
            body = self._aead.decrypt(nonce, ct, header + chunk_id.encode())
        except InvalidTag:
            raise DecryptError("authentication failed (modified or truncated)") from None
        plain = self._zd().decompress(body) if header[4] & FLAG_ZSTD else body
        if self.chunk_id(plain) != chunk_id:
            raise DecryptError("content does not match its id")
        return plain

    def seal(self, aad: bytes, plaintext: bytes) -> bytes:
        """nonce + AES-256-GCM(plaintext, aad) + tag: v2 pack headers and index files."""
        nonce = os.urandom(NONCE_SIZE)
        return nonce + self._aead.encrypt(nonce, plaintext, aad)

    def open(self, aad: bytes, sealed: bytes, what: str) -> bytes:
        from cryptography.exceptions import InvalidTag

        try:
            return self._aead.decrypt(sealed[:NONCE_SIZE], sealed[NONCE_SIZE:], aad)
        except InvalidTag:
            raise DecryptError(f"{what}: authentication failed (modified or truncated)") from None

    def open_stream(self, aad: bytes, nonce: bytes, what: str) -> StreamOpener:
        """AES-256-GCM opened piece by piece, for index files streamed into the local cache
        (a whole file would cost its size in memory per fetch thread)."""
        from cryptography.hazmat.primitives.ciphers import Cipher as Primitive
        from cryptography.hazmat.primitives.ciphers import algorithms, modes

        decryptor = Primitive(algorithms.AES(self.keys.encryption), modes.GCM(nonce)).decryptor()
        decryptor.authenticate_additional_data(aad)
        return StreamOpener(decryptor, what)

    def compress(self, data: bytes, *, window_log: int = 0) -> bytes:
        """zstd at the repository's level; `window_log` bounds the window (index files: what
        a streamed decompression holds per fetch is the window, ~2 MiB by default)."""
        if not window_log:
            return self._zc().compress(data)
        import zstandard

        params = zstandard.ZstdCompressionParameters.from_level(self.level, window_log=window_log)
        return zstandard.ZstdCompressor(compression_params=params).compress(data)

    def decompress(self, data: bytes) -> bytes:
        return self._zd().decompress(data)

    def decompressobj(self) -> zstandard.ZstdDecompressionObj:
        return self._zd().decompressobj()

    def seal_manifest(self, snapshot_id: str, doc: dict[str, Any], *, magic: bytes = MANIFEST_MAGIC) -> bytes:
        """A manifest (or, with another `magic`, a checkpoint: the magic is in the AAD, so
        one kind of object never opens as the other)."""
        body = self._zc().compress(json.dumps(doc, separators=(",", ":")).encode())
        nonce = os.urandom(NONCE_SIZE)
        return magic + nonce + self._aead.encrypt(nonce, body, magic + snapshot_id.encode())

    def open_manifest(self, snapshot_id: str, sealed: bytes, *, magic: bytes = MANIFEST_MAGIC) -> dict[str, Any]:
        from cryptography.exceptions import InvalidTag

        if sealed[:4] != magic:
            raise DecryptError("not a manifest object (bad magic)" if magic == MANIFEST_MAGIC
                               else "not a checkpoint object (bad magic)")
        nonce, ct = sealed[4:4 + NONCE_SIZE], sealed[4 + NONCE_SIZE:]
        try:
            body = self._aead.decrypt(nonce, ct, magic + snapshot_id.encode())
        except InvalidTag:
            raise DecryptError("authentication failed (modified or truncated)") from None
        # Manifests are written with a known content size, so decompress() is bounded.
        result: dict[str, Any] = json.loads(self._zd().decompress(body))
        return result
