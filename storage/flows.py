"""Storage-side flows: open a storage's backend or a repository from its row, and
enqueue initialization, check and prune. Views, the admin and `apply` call these
explicitly after saving (never from save() or a signal)."""
from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import django_rq
from django.db import transaction

import audit
from audit.models import Action

if TYPE_CHECKING:
    from storage.backends import Backend
    from storage.models import BackupStorage, Repository
    from storage.repo import Repository as EngineRepository


def _ca_file(pem: str) -> str:
    """boto3 wants a CA bundle path; the row holds PEM text (not secret). One file per content."""
    path = Path(tempfile.gettempdir()) / f"stashboard-ca-{hashlib.sha256(pem.encode()).hexdigest()[:16]}.pem"
    if not path.exists():
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.stem, suffix=".tmp")
        with open(fd, "w") as f:
            f.write(pem)
        Path(tmp).replace(path)  # atomic: a concurrent reader sees all of it or nothing
    return str(path)


def open_backend_for(storage: BackupStorage, subdirectory: str = "") -> Backend:
    from django.conf import settings

    from storage.backends import open_backend

    options = storage.backend_options()
    options["retry_budget"] = float(settings.STORAGE_RETRY_BUDGET)
    if options["ca_bundle"].lstrip().startswith("-----BEGIN"):
        options["ca_bundle"] = _ca_file(options["ca_bundle"])
    if subdirectory:
        options["prefix"] = "/".join(p for p in (options["prefix"], subdirectory) if p)
    return open_backend(**options)


def repository_backend(repo: Repository) -> Backend:
    return open_backend_for(repo.storage, repo.directory)


def open_repository(repo: Repository) -> EngineRepository:
    from storage.repo import Repository as EngineRepository

    return EngineRepository.open(repository_backend(repo), repo.password(), name=repo.display_name())


def initialize_storage(storage: BackupStorage, adopt: bool = False) -> None:
    from storage import jobs

    transaction.on_commit(lambda: django_rq.get_queue("maintenance").enqueue(jobs.init_storage, storage.pk, adopt))


def initialize_repository(repo: Repository) -> None:
    from storage import jobs

    transaction.on_commit(lambda: django_rq.get_queue("maintenance").enqueue(jobs.init_repository, repo.pk))


def check_repository(repo: Repository, read_data: bool = False, scheduled: bool = False, actor: Any = None) -> None:
    """Enqueue a check; `actor` (a request, user or audit Actor) asked for it: it goes to the audit log."""
    from storage import jobs

    if actor is not None:
        audit.record(actor, repo.team, Action.REPOSITORY_CHECK, repo, details={"read_data": read_data})

    transaction.on_commit(lambda: django_rq.get_queue("maintenance").enqueue(jobs.check_repository, repo.pk, read_data,
                                                                             scheduled))


def prune_repository(repo: Repository) -> None:
    from storage import jobs

    transaction.on_commit(lambda: django_rq.get_queue("maintenance").enqueue(jobs.prune_repository, repo.pk))


def delete_repository(repo: Repository) -> bool:
    """Delete a repository row; with deletionPolicy WipeOut its files go too, in a job
    (which needs the row's credentials, so the row goes last). True when deleted now."""
    from storage import jobs
    from storage.models import Repository as RepositoryRow

    if repo.deletion_policy != RepositoryRow.DeletionPolicy.WIPE_OUT:
        repo.delete()
        return True
    RepositoryRow.objects.filter(pk=repo.pk).update(
        phase=RepositoryRow.Phase.NOT_READY, status_message="deleting: WipeOut removes every file of the repository"
    )
    transaction.on_commit(lambda: django_rq.get_queue("maintenance").enqueue(jobs.wipe_repository, repo.pk))
    return False


def delete_storage(storage: BackupStorage) -> bool:
    """Delete a storage row and its repositories' rows; with WipeOut also the files it
    created (its repositories and metadata.yaml), in a job."""
    from storage import jobs
    from storage.models import BackupStorage as StorageRow

    if storage.deletion_policy != StorageRow.DeletionPolicy.WIPE_OUT:
        storage.repositories.all().delete()
        storage.delete()
        return True
    StorageRow.objects.filter(pk=storage.pk).update(
        phase=StorageRow.Phase.NOT_READY, status_message="deleting: WipeOut removes its repositories and metadata.yaml"
    )
    transaction.on_commit(lambda: django_rq.get_queue("maintenance").enqueue(jobs.wipe_storage, storage.pk))
    return False
