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
    RepositoryError,
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
    chunks_read: int = 0
    read_data_subset: str = ""  # "n/t" when only a subset was read
    checkpoints: int = 0        # uncommitted backups' checkpoints (their chunks count as referenced)


def parse_subset(text: str) -> tuple[int, int]:
    """"n/t" (restic's --read-data-subset) as (n, t), 1 <= n <= t."""
    n_text, sep, t_text = text.partition("/")
    try:
        n, t = int(n_text), int(t_text)
    except ValueError:
        n, t = 0, 0
    if not sep or not 1 <= n <= t:
        raise ValueError(f"read-data subset {text!r}: write n/t with 1 <= n <= t, e.g. 1/7")
    return n, t


def in_subset(chunk_id: str, n: int, t: int) -> bool:
    """Bucket n of t: the first 8 hex digits (32 bits) of the id modulo t is n-1. Ids are
    keyed hashes, so the t buckets are about equal and runs 1..t read every chunk once."""
    return int(chunk_id[:8], 16) % t == n - 1


def _checkpoint_users(repo: Repository, result: CheckResult, users: dict[str, set[str]]) -> None:
    """A checkpoint's chunks are referenced (prune keeps them) and checked like a snapshot's,
    named "checkpoint <id>/<stream>" where they break something."""
    from .checkpoint import list_checkpoints

    try:
        checkpoints = list_checkpoints(repo)
    except RepositoryError as e:
        result.problems.append(str(e))
        return
    for c in checkpoints:
        result.checkpoints += 1
        for stream in [*c.streams.values(), *(p.entry for p in c.partial.values())]:
            for cid in stream.chunks:
                users[cid].add(f"checkpoint {c.short_id}/{stream.name}")


def check(repo: Repository, *, read_data: bool = False, read_data_subset: tuple[int, int] | None = None,
          workers: int = 4) -> CheckResult:
    """Every manifest opens and every referenced chunk exists; with read_data every
    referenced chunk is fetched and verified, with read_data_subset=(n, t) only bucket n of t."""
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
    _checkpoint_users(repo, result, users)
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
    if read_data or read_data_subset:
        def verify(cid: str) -> tuple[str, str | None]:
            try:
                repo.cipher.open_chunk(cid, repo.backend.get(chunk_key(cid)))
                return cid, None
            except (DecryptError, CorruptChunk) as e:
                return cid, f"is corrupt ({e})"
            except Exception as e:  # noqa: BLE001
                return cid, f"cannot be read ({e})"

        to_read = sorted(users.keys() & stored)
        if read_data_subset and not read_data:
            n, t = read_data_subset
            to_read = [cid for cid in to_read if in_subset(cid, n, t)]
            result.read_data_subset = f"{n}/{t}"
        result.chunks_read = len(to_read)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for cid, problem in pool.map(verify, to_read):
                if problem:
                    bad(cid, problem)
    result.ok = not result.problems
    return result
