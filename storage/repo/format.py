"""Repository formats v1 and v2: object layout, constants, and the engine's errors.

See docs/repository-format.md for the full description.
"""
from __future__ import annotations

import datetime as dt

FORMAT_NAME = "stashboard-repository"
FORMAT_VERSION = 2          # what init() writes
READABLE_VERSIONS = (1, 2)  # v1: one object per chunk; v2: pack files and an index

CONFIG_KEY = "repository.yaml"
KEYS_PREFIX = "keys/"
DATA_PREFIX = "data/"
SNAPSHOTS_PREFIX = "snapshots/"
LOCKS_PREFIX = "locks/"
PACKS_PREFIX = "packs/"     # v2
INDEX_PREFIX = "index/"     # v2
CHECKPOINTS_PREFIX = "checkpoints/"

# FastCDC parameters (bytes). Measured on NDJSON: 1 MiB average keeps per-chunk overhead
# (one object, one request) small while a changed document rewrites little.
CHUNK_MIN = 512 << 10
CHUNK_AVG = 1 << 20
CHUNK_MAX = 4 << 20

ZSTD_LEVEL = 3

# Envelope magic of encrypted objects: 3 letters + format version byte.
CHUNK_MAGIC = b"SBC\x01"
MANIFEST_MAGIC = b"SBM\x01"
CHECKPOINT_MAGIC = b"SBR\x01"   # R: resume
NONCE_SIZE = 12
PACK_MAGIC = b"SBP\x02"
PACK_HEADER_AAD = b"SBP\x02 header"
INDEX_MAGIC = b"SBI\x02"

# v2 packs: chunk blobs are appended until a pack holds this many stored bytes (restic's
# default pack size); one PUT per ~16 MiB instead of one per chunk.
PACK_TARGET = 16 << 20

# Flags byte after the chunk magic.
FLAG_ZSTD = 0x01


def chunk_key(chunk_id: str) -> str:
    return f"{DATA_PREFIX}{chunk_id[:2]}/{chunk_id}"


def pack_key(pack_id: str) -> str:
    return f"{PACKS_PREFIX}{pack_id[:2]}/{pack_id}"


def index_key(index_id: str) -> str:
    return f"{INDEX_PREFIX}{index_id}"


def snapshot_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}{snapshot_id}"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def isoformat(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(s: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(s)
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)


class RepositoryError(Exception):
    """A repository operation failed; the message says what and, when known, what to fix."""


class SnapshotNotFound(RepositoryError):
    pass


class WrongPassword(RepositoryError):
    pass


class LockedError(RepositoryError):
    pass


class CorruptChunk(RepositoryError):
    """A chunk failed verification (missing, bad tag, or content that does not hash to its id)."""

    def __init__(self, message: str, *, chunk_id: str = "", snapshot_id: str = "",
                 stream: str = "") -> None:
        super().__init__(message)
        self.chunk_id = chunk_id
        self.snapshot_id = snapshot_id
        self.stream = stream
