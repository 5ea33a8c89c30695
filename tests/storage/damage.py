"""Damaging a stored chunk in place, whatever the repository format (v1 object, v2 pack)."""
from __future__ import annotations

from storage.repo import Repository


def corrupt_chunk(repo: Repository, chunk_id: str, *, at: int = -5, width: int = 1) -> str:
    """Flip `width` bytes of the chunk's stored bytes at `at` (negative: from its end);
    returns the key of the object that holds it."""
    location = repo.chunk_location(chunk_id)
    assert location is not None, f"chunk {chunk_id} is not stored"
    key, offset, length = location
    data = bytearray(repo.backend.get(key))
    length = len(data) - offset if length < 0 else length
    start = offset + (at if at >= 0 else length + at)
    for i in range(start, start + width):
        data[i] ^= 0xFF
    repo.backend.put(key, bytes(data))
    return key


def stored_keys(repo: Repository) -> set[str]:
    """Every object that holds chunk data or says where it is (v1 data/, v2 packs/ and index/)."""
    return {k for prefix in ("data/", "packs/", "index/") for k in repo.backend.list(prefix)}
