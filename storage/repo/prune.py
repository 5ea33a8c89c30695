"""`prune`: delete chunks that no manifest references, under the exclusive lock."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .checkpoint import CHECKPOINT_MAX_AGE, Checkpoint, checkpoint_key, list_checkpoints
from .format import DATA_PREFIX, SNAPSHOTS_PREFIX, RepositoryError, SnapshotNotFound, utcnow
from .locks import remove_locks

if TYPE_CHECKING:
    from .repository import Repository


@dataclass
class PruneResult:
    chunks_deleted: int
    chunks_kept: int
    snapshots: int
    stale_locks_removed: int
    checkpoints: int = 0                 # kept: their chunks are referenced
    stale_checkpoints_removed: int = 0


def prune(repo: Repository, *, workers: int = 8, dry_run: bool = False,
          checkpoint_max_age: float = CHECKPOINT_MAX_AGE) -> PruneResult:
    # The exclusive lock is refused while any live shared lock exists, so no backup is
    # between uploading a chunk and committing a manifest that references it.
    with repo.lock("exclusive") as own:
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
        kept, stale = _checkpoints(repo, checkpoint_max_age)
        for c in kept:
            referenced.update(c.chunks())
        orphans = [k for k in repo.backend.list(DATA_PREFIX)
                   if k.rsplit("/", 1)[-1] not in referenced]
        if not dry_run:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                list(pool.map(repo.backend.delete, orphans))
            repo._forget_known({k.rsplit("/", 1)[-1] for k in orphans})
            for c in stale:
                repo.backend.delete(checkpoint_key(c.id))
        locks = 0 if dry_run else len(remove_locks(repo.backend, repo_name=repo.name, keep=own.id))
    return PruneResult(chunks_deleted=len(orphans), chunks_kept=len(referenced),
                       snapshots=count, stale_locks_removed=locks + own.removed,
                       checkpoints=len(kept), stale_checkpoints_removed=len(stale))


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
