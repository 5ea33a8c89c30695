"""Maintenance jobs: thin functions that take a row id, call the engine, write status."""
from __future__ import annotations

import logging
from collections.abc import Callable

from django.utils import timezone

from storage import flows
from storage.models import BackupStorage, Repository

log = logging.getLogger(__name__)

# Called with the Repository row after it became Ready (the backups app registers the
# "configuration ready → instant backup" step here, so storage does not import backups).
on_repository_ready: list[Callable[[Repository], None]] = []
# Called with the Repository row after its initialization failed, its status_message saying why.
on_repository_not_ready: list[Callable[[Repository], None]] = []


def _not_ready(repo_pk: int, message: str) -> str:
    Repository.objects.filter(pk=repo_pk).update(phase=Repository.Phase.NOT_READY, status_message=message)
    repo = Repository.objects.select_related("storage").get(pk=repo_pk)
    for callback in on_repository_not_ready:
        callback(repo)
    return Repository.Phase.NOT_READY


# Called with the Repository row and the check's summary when a check found problems
# (the backups app notifies the team, as for a failed backup).
on_check_failed: list[Callable[[Repository, dict], object]] = []


def init_storage(storage_pk: int, adopt: bool = False) -> str:
    from storage.backends import BackendError
    from storage.backends import init_storage as engine_init

    storage = BackupStorage.objects.select_related("secret", "team").get(pk=storage_pk)
    try:
        backend = flows.open_backend_for(storage)
        engine_init(backend, str(storage.uuid), adopt=adopt)
    except (BackendError, ValueError) as e:
        BackupStorage.objects.filter(pk=storage_pk).update(phase=BackupStorage.Phase.NOT_READY, status_message=str(e))
        log.warning("storage %s/%s not ready: %s", storage.team.slug, storage.name, e)
        for repo_pk in Repository.objects.filter(storage_id=storage_pk, phase=Repository.Phase.NOT_READY).values_list("pk", flat=True):
            _not_ready(repo_pk, f"waiting for storage '{storage.name}' to be Ready ({e})")
        return BackupStorage.Phase.NOT_READY
    BackupStorage.objects.filter(pk=storage_pk).update(
        phase=BackupStorage.Phase.READY, status_message="", last_initialized=timezone.now()
    )
    for repo in Repository.objects.filter(storage_id=storage_pk, phase=Repository.Phase.NOT_READY):
        flows.initialize_repository(repo)
    return BackupStorage.Phase.READY


def init_repository(repo_pk: int) -> str:
    """repository.yaml + keys on first use, or open the existing one with the given password."""
    from storage.backends import BackendError
    from storage.repo import Repository as EngineRepository
    from storage.repo import RepositoryError

    repo = Repository.objects.select_related("storage__secret", "encryption_secret", "team").get(pk=repo_pk)
    if not repo.storage.is_ready():
        return _not_ready(repo_pk, f"waiting for storage '{repo.storage.name}' to be Ready "
                                   f"({repo.storage.status_message or 'not initialized yet'})")
    try:
        backend = flows.repository_backend(repo)
        password = repo.password()
        if backend.exists("repository.yaml"):
            engine = EngineRepository.open(backend, password, name=repo.display_name())
        else:
            engine = EngineRepository.init(backend, password, name=repo.display_name())
        count = len(engine.snapshot_ids())
    except Exception as e:  # the row must say why, whatever the engine raised
        if not isinstance(e, (BackendError, RepositoryError, ValueError)) and e.__class__.__name__ != "ValidationError":
            log.exception("initializing repository %s failed", repo.display_name())
        return _not_ready(repo_pk, "; ".join(getattr(e, "messages", [])) or str(e))
    Repository.objects.filter(pk=repo_pk).update(
        phase=Repository.Phase.READY, status_message="", repository_id=engine.id, snapshot_count=count
    )
    repo.refresh_from_db()
    for callback in on_repository_ready:
        callback(repo)
    return Repository.Phase.READY


def check_repository(repo_pk: int, read_data: bool = False, scheduled: bool = False) -> dict:
    """Verify manifests and chunk presence; read_data fetches and verifies every chunk. A
    scheduled check reads the next subset n/t of the chunks (CHECK_READ_DATA_SUBSETS = t),
    so every chunk is read over t scheduled checks."""
    from django.conf import settings
    from django.db.models import F

    repo = Repository.objects.select_related("storage__secret", "encryption_secret", "team").get(pk=repo_pk)
    subset: tuple[int, int] | None = None
    buckets = int(settings.CHECK_READ_DATA_SUBSETS)
    if scheduled and not read_data and buckets == 1:
        read_data = True
    elif scheduled and not read_data and buckets > 1:
        subset = (repo.check_cycle % buckets + 1, buckets)
    summary: dict = {"read_data": read_data, "read_data_subset": f"{subset[0]}/{subset[1]}" if subset else ""}
    try:
        engine = flows.open_repository(repo)
        result = engine.check(read_data=read_data, read_data_subset=subset)
        summary.update(ok=result.ok, problems=[str(p) for p in result.problems][:100], snapshots=result.snapshots,
                       chunks_referenced=result.chunks_referenced, chunks_read=result.chunks_read,
                       bad_chunks=sorted(result.bad_chunks)[:100])
        if subset:
            # Counted only once the subset was read, so a check that could not run reads it next time.
            Repository.objects.filter(pk=repo_pk).update(check_cycle=F("check_cycle") + 1)
    except Exception as e:
        summary.update(ok=False, problems=[str(e)])
    Repository.objects.filter(pk=repo_pk).update(
        integrity=summary["ok"], last_check=timezone.now(), last_check_result=summary
    )
    if not summary["ok"]:
        log.warning("check of repository %s found problems: %s", repo.display_name(), "; ".join(summary["problems"][:5]))
        for callback in on_check_failed:
            try:
                callback(repo, summary)
            except Exception:
                log.exception("reporting the failed check of %s failed", repo.display_name())
    return summary


def prune_repository(repo_pk: int) -> dict:
    from storage.repo import LockedError

    repo = Repository.objects.select_related("storage__secret", "encryption_secret", "team").get(pk=repo_pk)
    try:
        result = flows.open_repository(repo).prune()
    except LockedError as e:
        # A backup holds a shared lock: prune runs again after the next retention.
        log.info("prune of %s postponed: %s", repo.display_name(), e)
        return {"postponed": str(e)}
    Repository.objects.filter(pk=repo_pk).update(last_prune=timezone.now())
    return {"chunks_deleted": result.chunks_deleted, "chunks_kept": result.chunks_kept}


def wipe_repository(repo_pk: int) -> int:
    """WipeOut: every object of the repository, then its rows. A failure leaves the row
    (NotReady, with the reason) so the deletion can be retried, never a row without files
    that still looks whole."""
    from storage.backends import wipe_repository as engine_wipe

    repo = Repository.objects.select_related("storage__secret", "team").filter(pk=repo_pk).first()
    if repo is None:
        return 0
    try:
        count = engine_wipe(flows.repository_backend(repo))
        log.info("wiped %d objects of %s", count, repo.display_name())
    except Exception as e:
        Repository.objects.filter(pk=repo_pk).update(status_message=f"WipeOut failed, files may remain: {e}")
        raise
    repo.delete()
    return count


def wipe_storage(storage_pk: int) -> int:
    """WipeOut: the storage's repositories and its metadata.yaml (nothing else under its
    prefix), then its rows; refused when another storage lives below the prefix."""
    from storage.backends import wipe_storage as engine_wipe

    storage = BackupStorage.objects.select_related("secret").filter(pk=storage_pk).first()
    if storage is None:
        return 0
    try:
        directories = list(storage.repositories.values_list("directory", flat=True))
        count = engine_wipe(flows.open_backend_for(storage), str(storage.uuid), directories)
        log.info("wiped %d objects of %s", count, storage.location())
    except Exception as e:
        BackupStorage.objects.filter(pk=storage_pk).update(status_message=f"WipeOut failed, files may remain: {e}")
        raise
    storage.repositories.all().delete()
    storage.delete()
    return count
