"""Storage-side flows: open a storage's backend or a repository from its row, and
enqueue initialization, check and prune. Views, the admin and `apply` call these
explicitly after saving (never from save() or a signal)."""
from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import django_rq
from django.core.exceptions import ValidationError
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
    from storage.repo import WrongPassword

    backend = repository_backend(repo)
    try:
        return EngineRepository.open(backend, repo.password(), name=repo.display_name())
    except WrongPassword:
        # A password change (password_change_steps) may have saved the Secret and removed
        # the old key between our read of the Secret and the open: read it once more.
        repo.encryption_secret.refresh_from_db()
        return EngineRepository.open(backend, repo.password(), name=repo.display_name())


def password_change_steps(repo: Repository, new_password: str) -> Iterator[str]:
    """Change the password of a repository and of its Secret with no moment at which the
    Secret's password fails to open it: add a key for the new password, save the Secret,
    then remove the old key. Yields the name of each step once it is done (tests run a
    backup between them); change_repository_password() runs them all."""
    from storage.models import Secret
    from storage.repo import keys

    if not new_password:
        raise ValidationError({"new_password": "Type the new password."})
    shared = sorted(repo.encryption_secret.repositories.exclude(pk=repo.pk).values_list("name", flat=True))
    if shared:
        raise ValidationError({"new_password": f"Secret '{repo.encryption_secret.name}' is also the password of "
                               f"{', '.join(shared)}: give this repository a secret of its own first."})
    engine = open_repository(repo)
    old_key, field = engine.key_id, "RESTIC_PASSWORD" if repo.encryption_secret.get("RESTIC_PASSWORD") else "password"
    if repo.password() == new_password:
        raise ValidationError({"new_password": "This is the current password: type another one."})
    new_key = keys.add_key(engine, new_password)
    yield "key added"
    with transaction.atomic():
        secret = Secret.objects.select_for_update().get(pk=repo.encryption_secret_id)
        secret.update_data({field: new_password})
        secret.save(update_fields=["encrypted_data", "key_names", "updated"])
    repo.encryption_secret = secret
    yield "secret saved"
    engine.key_id = new_key
    keys.remove_key(engine, old_key)
    yield "old key removed"


def change_repository_password(repo: Repository, new_password: str) -> None:
    for _step in password_change_steps(repo, new_password):
        pass


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
