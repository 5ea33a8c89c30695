"""`check`: every manifest opens, every referenced chunk exists, optionally every chunk verifies."""
from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .crypto import DecryptError
from .format import (
    DATA_PREFIX,
    PACKS_PREFIX,
    SNAPSHOTS_PREFIX,
    CorruptChunk,
    RepositoryError,
    SnapshotNotFound,
    pack_key,
)
from .packs import parse_pack

if TYPE_CHECKING:
    from .index import Location
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
    packs: int = 0              # v2: packs the index lists
    packs_unindexed: int = 0    # v2: packs no index lists (a crashed writer's; prune deletes them)
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
    referenced chunk is fetched and verified, with read_data_subset=(n, t) only bucket n of t.
    v2 also checks that every pack the index lists exists, and read_data reads whole packs
    (their sha256, their own header against the index)."""
    result = CheckResult(ok=True)
    users = _users(repo, result)
    result.chunks_referenced = len(users)

    def bad(cid: str, what: str) -> None:
        where = sorted(users.get(cid, ()))
        result.bad_chunks[cid] = where
        result.problems.append(f"chunk {cid} {what}; breaks {', '.join(where) or 'no snapshot'}")

    if repo.version >= 2:
        stored = _check_packs(repo, result, users, bad, read_data=read_data and not read_data_subset,
                              workers=workers)
    else:
        stored = {k.rsplit("/", 1)[-1] for k in repo.backend.list(DATA_PREFIX)}
    result.chunks_stored = len(stored)
    result.chunks_unreferenced = len(stored - users.keys())
    for cid in sorted(users.keys() - stored):
        bad(cid, "is missing")
    if read_data_subset or (read_data and repo.version < 2):
        to_read = sorted(users.keys() & stored - result.bad_chunks.keys())
        if read_data_subset and not read_data:
            n, t = read_data_subset
            to_read = [cid for cid in to_read if in_subset(cid, n, t)]
            result.read_data_subset = f"{n}/{t}"
        result.chunks_read += len(to_read)
        with ThreadPoolExecutor(max_workers=workers) as pool:
            for cid, problem in pool.map(lambda c: _verify(repo, c), to_read):
                if problem:
                    bad(cid, problem)
    result.ok = not result.problems
    return result


def _users(repo: Repository, result: CheckResult) -> dict[str, set[str]]:
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
    return users


def _verify(repo: Repository, cid: str) -> tuple[str, str | None]:
    from storage.backends import NotFound

    try:
        repo.cipher.open_chunk(cid, repo.sealed_chunk(cid))
        return cid, None
    except NotFound:
        return cid, "is missing"
    except (DecryptError, CorruptChunk) as e:
        return cid, f"is corrupt ({e})"
    except Exception as e:  # noqa: BLE001
        return cid, f"cannot be read ({e})"


def _check_packs(repo: Repository, result: CheckResult, users: dict[str, set[str]],
                 bad: Callable[[str, str], None], *, read_data: bool, workers: int) -> set[str]:
    """v2: the indexed chunks; reports index entries whose pack is missing and, with
    read_data, every referenced chunk that does not verify in a whole-pack read."""
    repo.index.load()
    by_pack: dict[str, list[tuple[str, Location]]] = defaultdict(list)  # where lookups go
    indexed: set[str] = set()
    stored: set[str] = set()
    for cid, loc in repo.index.entries():
        indexed.add(loc.pack_id)
        if cid not in stored:  # a chunk two writers stored: lookups find the first copy
            stored.add(cid)
            by_pack[loc.pack_id].append((cid, loc))
    listed = {k.rsplit("/", 1)[-1] for k in repo.backend.list(PACKS_PREFIX)}
    result.packs = len(indexed)
    result.packs_unindexed = len(listed - indexed)
    for pid in sorted(indexed - listed):
        result.problems.append(f"the index lists pack {pid} which is missing")
        for cid, _ in by_pack.get(pid, ()):
            if cid in users:
                bad(cid, f"is in pack {pid[:8]}, which is missing")
    if read_data:
        wanted = {pid: [e for e in entries if e[0] in users] for pid, entries in by_pack.items()
                  if pid in listed}
        wanted = {pid: entries for pid, entries in wanted.items() if entries}
        with ThreadPoolExecutor(max_workers=min(workers, 2)) as pool:
            pack_problems = []
            for problems, of_pack in pool.map(lambda p: _read_pack(repo, p, wanted[p]), sorted(wanted)):
                for cid, problem in problems:
                    bad(cid, problem)
                pack_problems += of_pack
        result.problems += pack_problems
        result.chunks_read += sum(len(v) for v in wanted.values())
    return stored


def _read_pack(repo: Repository, pack_id: str,
               entries: list[tuple[str, Location]]) -> tuple[list[tuple[str, str]], list[str]]:
    """(problems of the referenced chunks, problems of the pack itself) of one pack read
    whole. Chunks are verified where the index says, so a damaged header or a pack that
    does not match its id still names only the chunks that are bad."""
    try:
        data = repo.backend.get(pack_key(pack_id))
    except Exception as e:  # noqa: BLE001
        return [(cid, f"cannot be read (pack {pack_id[:8]}: {e})") for cid, _ in entries], []
    pack_problems = []
    if hashlib.sha256(data).hexdigest() != pack_id:
        pack_problems.append(f"pack {pack_id} does not match its id (modified)")
    header: dict[str, Any] = {}
    try:
        header = {b.chunk_id: b for b in parse_pack(repo.cipher, data, f"pack {pack_id[:8]}")}
    except Exception as e:  # noqa: BLE001
        pack_problems.append(f"the header of pack {pack_id} is unreadable: {e}")
    problems = []
    for cid, loc in entries:
        try:
            repo.cipher.open_chunk(cid, data[loc.offset:loc.offset + loc.length])
        except Exception as e:  # noqa: BLE001
            problems.append((cid, f"is corrupt ({e})"))
            continue
        blob = header.get(cid)
        if header and (blob is None or (blob.offset, blob.length) != (loc.offset, loc.length)):
            pack_problems.append(f"pack {pack_id}: its header does not list chunk {cid} where "
                                 f"the index does")
    return problems, pack_problems
