"""`prune`: delete what no manifest references, under the exclusive lock.

v1 deletes unreferenced chunk objects. v2 decides per pack (the rule is in docs/
repository-format.md): a pack with no referenced chunk is deleted; a pack whose
unreferenced blobs are at least REPACK_UNUSED of its bytes, or a small pack beside other
small ones, is repacked (its referenced blobs copied, still encrypted, into new packs);
any other pack is kept whole. The merged index is written before the old index files are
deleted, and packs are deleted last, so an index entry never points at a deleted pack.

`keep` adds chunk ids to keep beyond those the manifests reference; the chunks of every
fresh checkpoint (an interrupted backup's, docs/repository-format.md) are added to it, so
a pack holding them is neither deleted nor loses those blobs in a repack. Stale
checkpoints are deleted.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checkpoint import CHECKPOINT_MAX_AGE, Checkpoint, checkpoint_key, list_checkpoints
from .format import (
    DATA_PREFIX,
    PACKS_PREFIX,
    SNAPSHOTS_PREFIX,
    RepositoryError,
    SnapshotNotFound,
    index_key,
    pack_key,
    utcnow,
)
from .index import encode_index, split_packs
from .locks import remove_locks
from .packs import Blob, PackSink

if TYPE_CHECKING:
    from .repository import Repository

REPACK_UNUSED = 0.2  # repack a pack once a fifth of its bytes is unreferenced
SMALL_PACK = 8       # a pack below 1/8 of the pack target is small


@dataclass
class PruneResult:
    chunks_deleted: int
    chunks_kept: int
    snapshots: int
    stale_locks_removed: int
    packs_deleted: int = 0   # v2: no referenced chunk, or written by a crashed writer
    packs_repacked: int = 0  # v2: their referenced chunks copied into new packs
    packs_written: int = 0   # v2: new packs the repacking wrote
    packs_kept: int = 0      # v2: kept whole (unreferenced bytes below the threshold)
    checkpoints: int = 0                 # kept: their chunks are referenced
    stale_checkpoints_removed: int = 0


@dataclass
class _Pack:
    blobs: list[tuple[Blob, bool]]  # (blob, referenced and the copy lookups find)
    used: int = 0
    unused: int = 0


def referenced_chunks(repo: Repository) -> tuple[set[str], int]:
    """Chunk ids every manifest references, and the number of manifests."""
    referenced: set[str] = set()
    count = 0
    for key in repo.backend.list(SNAPSHOTS_PREFIX):
        snapshot_id = key[len(SNAPSHOTS_PREFIX):]
        try:
            manifest = repo.manifest(snapshot_id, cached=False)
        except SnapshotNotFound:
            continue  # forgotten meanwhile: its chunks are no longer referenced
        except Exception as e:
            # Without every manifest we cannot know what is referenced.
            raise RepositoryError(f"prune refused: snapshot {snapshot_id[:8]} in repository "
                                  f"{repo.name} is unreadable ({e}); run check") from e
        count += 1
        for stream in manifest.streams.values():
            referenced.update(stream.chunks)
    return referenced, count


def prune(repo: Repository, *, workers: int = 8, dry_run: bool = False,
          keep: Iterable[str] = (), checkpoint_max_age: float = CHECKPOINT_MAX_AGE) -> PruneResult:
    # The exclusive lock is refused while any live shared lock exists, so no backup is
    # between storing a chunk and committing a manifest that references it.
    with repo.lock("exclusive") as own:
        referenced, count = referenced_chunks(repo)
        referenced.update(keep)
        kept, stale = _checkpoints(repo, checkpoint_max_age)
        for c in kept:  # a fresh checkpoint's chunks: neither deleted nor dropped by a repack
            referenced.update(c.chunks())
        if repo.version >= 2:
            result = _prune_packs(repo, referenced, dry_run=dry_run, workers=workers)
        else:
            result = _prune_loose(repo, referenced, dry_run=dry_run, workers=workers)
        result.snapshots = count
        result.checkpoints, result.stale_checkpoints_removed = len(kept), len(stale)
        if not dry_run:
            for c in stale:
                repo.backend.delete(checkpoint_key(c.id))
        locks = 0 if dry_run else len(remove_locks(repo.backend, repo_name=repo.name, keep=own.id))
        result.stale_locks_removed = locks + own.removed
    return result


def _prune_loose(repo: Repository, referenced: set[str], *, dry_run: bool,
                 workers: int) -> PruneResult:
    orphans = [k for k in repo.backend.list(DATA_PREFIX) if k.rsplit("/", 1)[-1] not in referenced]
    if not dry_run:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(repo.backend.delete, orphans))
        repo._forget_known({k.rsplit("/", 1)[-1] for k in orphans})
    return PruneResult(chunks_deleted=len(orphans), chunks_kept=len(referenced), snapshots=0,
                       stale_locks_removed=0)


def _classify(repo: Repository, referenced: set[str]) -> dict[str, _Pack]:
    repo.index.load()
    packs: dict[str, _Pack] = defaultdict(lambda: _Pack([]))
    found: set[str] = set()
    for cid, loc in repo.index.entries():
        used = cid in referenced and cid not in found
        found.add(cid)
        p = packs[loc.pack_id]
        p.blobs.append((Blob(cid, loc.offset, loc.length, loc.size), used))
        if used:
            p.used += loc.length
        else:
            p.unused += loc.length
    return packs


def _plan(packs: dict[str, _Pack], target: int) -> tuple[list[str], list[str], list[str]]:
    """(delete, repack, keep) pack ids by the rule in the module docstring."""
    delete, repack, keep = [], [], []
    small = [pid for pid, p in packs.items() if p.used and p.used + p.unused < target // SMALL_PACK]
    for pid, p in sorted(packs.items()):
        if not p.used:
            delete.append(pid)
        elif p.unused >= REPACK_UNUSED * (p.used + p.unused) or (len(small) > 1 and pid in small):
            repack.append(pid)
        else:
            keep.append(pid)
    return delete, repack, keep


def _prune_packs(repo: Repository, referenced: set[str], *, dry_run: bool,
                 workers: int) -> PruneResult:
    packs = _classify(repo, referenced)
    delete, repack, keep = _plan(packs, repo.pack_target)
    unindexed = [pid for pid in (k.rsplit("/", 1)[-1] for k in repo.backend.list(PACKS_PREFIX))
                 if pid not in packs]
    result = PruneResult(chunks_deleted=sum(1 for pid in delete + repack for _, u in packs[pid].blobs
                                            if not u),
                         chunks_kept=len(referenced), snapshots=0, stale_locks_removed=0,
                         packs_deleted=len(delete) + len(unindexed), packs_repacked=len(repack),
                         packs_kept=len(keep))
    if dry_run:
        return result
    new_index: dict[str, list[Blob]] = {}
    listed: set[str] = set()
    for pid in keep:  # kept whole: every blob stays indexed once (later backups reuse them)
        new_index[pid] = []
        for blob, _ in packs[pid].blobs:
            if blob.chunk_id not in listed:
                listed.add(blob.chunk_id)
                new_index[pid].append(blob)
    written = _repack(repo, {pid: [b for b, u in packs[pid].blobs if u and b.chunk_id not in listed]
                             for pid in repack})
    result.packs_written = len(written)
    new_index.update(written)
    old_tables = list(repo.index.tables)
    new_tables = []
    for group in split_packs(new_index):
        index_id, sealed, body = encode_index(repo.cipher, group)
        repo.backend.put(index_key(index_id), sealed)
        new_tables.append((index_id, body))
    new_ids = {i for i, _ in new_tables}
    # Order matters: new index, then old index files go, then the packs they listed.
    stale_index = [i for i in old_tables if i not in new_ids]
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(repo.backend.delete, [index_key(i) for i in stale_index]))
        list(pool.map(repo.backend.delete, [pack_key(p) for p in delete + repack + unindexed]))
    repo.index.forget_tables(stale_index)
    for index_id, body in new_tables:
        repo.index.add_body(index_id, body)
    return result


def _repack(repo: Repository, wanted: dict[str, list[Blob]]) -> dict[str, list[Blob]]:
    """Copy the given blobs of these packs into new packs; {new pack id: its blobs}."""
    with PackSink(repo.backend, repo.cipher, repo.pack_target) as sink:
        for pid, blobs in sorted(wanted.items()):
            if not blobs:
                continue
            data = repo.backend.get(pack_key(pid))
            for b in blobs:
                sink.add(b.chunk_id, data[b.offset:b.offset + b.length], b.size)
        return sink.finish()


def _checkpoints(repo: Repository, max_age: float) -> tuple[list[Checkpoint], list[Checkpoint]]:
    """(kept, stale) checkpoints. Listed under the exclusive lock, so no backup is adding
    to one; a live lock still named by a checkpoint keeps it whatever its age."""
    from .locks import read_locks

    now = utcnow()
    live = {lock.id for lock in read_locks(repo.backend) if lock.why_removable() is None}
    kept: list[Checkpoint] = []
    stale: list[Checkpoint] = []
    for c in list_checkpoints(repo):
        (stale if c.stale(now, max_age, live) else kept).append(c)
    return kept, stale
