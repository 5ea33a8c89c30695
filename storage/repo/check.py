"""`check`: every manifest opens, every referenced chunk exists, optionally every chunk verifies."""
from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .crypto import DecryptError
from .format import (
    DATA_PREFIX,
    SNAPSHOTS_PREFIX,
    CorruptChunk,
    SnapshotNotFound,
    chunk_key,
)

if TYPE_CHECKING:
    from .repository import Repository


@dataclass
class CheckResult:
    ok: bool
    problems: list[str] = field(default_factory=list)
    snapshots: int = 0
    chunks_referenced: int = 0
    chunks_stored: int = 0
    chunks_unreferenced: int = 0
    bad_chunks: dict[str, list[str]] = field(default_factory=dict)  # id -> "snapshot/stream"


def check(repo: Repository, *, read_data: bool = False, workers: int = 4) -> CheckResult:
    result = CheckResult(ok=True)
    users: dict[str, set[str]] = defaultdict(set)
    for key in sorted(repo.backend.list(SNAPSHOTS_PREFIX)):
        snapshot_id = key[len(SNAPSHOTS_PREFIX):]
        try:
            manifest = repo.manifest(snapshot_id, cached=False)
        except SnapshotNotFound:
            continue  # forgotten meanwhile
        except Exception as e:  # noqa: BLE001 - every bad manifest is reported, not raised
            result.problems.append(f"snapshot {snapshot_id[:8]}: manifest unreadable: {e}")
            continue
        result.snapshots += 1
        for stream in manifest.streams.values():
            for cid in stream.chunks:
                users[cid].add(f"{manifest.short_id}/{stream.name}")
    stored = {k.rsplit("/", 1)[-1] for k in repo.backend.list(DATA_PREFIX)}
    result.chunks_referenced = len(users)
    result.chunks_stored = len(stored)
    result.chunks_unreferenced = len(stored - users.keys())

    def bad(cid: str, what: str) -> None:
        where = sorted(users[cid])
        result.bad_chunks[cid] = where
        result.problems.append(f"chunk {cid} {what}; breaks {', '.join(where)}")

    for cid in sorted(users.keys() - stored):
        bad(cid, "is missing")
    if read_data:
        def verify(cid: str) -> tuple[str, str | None]:
            try:
                repo.cipher.open_chunk(cid, repo.backend.get(chunk_key(cid)))
                return cid, None
            except (DecryptError, CorruptChunk) as e:
                return cid, f"is corrupt ({e})"
            except Exception as e:  # noqa: BLE001
                return cid, f"cannot be read ({e})"

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for cid, problem in pool.map(verify, sorted(users.keys() & stored)):
                if problem:
                    bad(cid, problem)
    result.ok = not result.problems
    return result
