"""What stops a delete, said the same way on the dashboard's delete pages and in the API,
and how each kind is deleted (a storage or repository with deletionPolicy WipeOut goes
in a job). Restrictions the database enforces (RESTRICT foreign keys) are caught by the
callers; these are the ones it does not see (a repository in a session's list) or that
need words."""
from __future__ import annotations

from typing import Any

from backups.models import BackupConfiguration, BackupSessionConfig, Cluster
from restores.models import RestoreSession
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret


def blockers(obj: Any) -> list[str]:
    if isinstance(obj, Secret):
        users = [f"storage {s}" for s in obj.storages.all()] + [f"repository {r}" for r in obj.repositories.all()] + \
                [f"cluster {c}" for c in obj.clusters.all()]
        return [f"It is used by {u}: change that first." for u in users]
    if isinstance(obj, BackupStorage):
        out = []
        for r in obj.repositories.all():
            configs = sorted({str(s.configuration) for s in r.session_configs.select_related("configuration")})
            if configs:
                out.append(f"Repository {r.name} is used by configuration {', '.join(configs)}: remove it there first.")
            if r.restore_sessions.exists():
                out.append(f"Repository {r.name} has restore sessions: delete them first.")
            out += [f"Repository {r.name} is verified by verifier {v}: delete it first." for v in r.verifiers.all()]
        return out
    if isinstance(obj, RetentionPolicy):
        used = BackupSessionConfig.objects.filter(retention_policy=obj).select_related("configuration")
        return [f"Configuration {s} uses it: choose another policy there first." for s in used]
    if isinstance(obj, Cluster):
        out = [f"Backup configuration {c} targets it: delete or retarget it first." for c in obj.backup_configurations.all()]
        out += [f"Restore {r} targets it: delete it first." for r in obj.restore_sessions.all()[:5]]
        return out + [f"Verifier {v} restores into it: delete the verifier or choose another scratch cluster."
                      for v in obj.verifiers.all()]
    if isinstance(obj, Repository):
        configs = sorted({str(s.configuration) for s in obj.session_configs.select_related("configuration")})
        out = [f"Configuration {c} backs up into it: remove it there first." for c in configs]
        out += ["Restore sessions read from it: delete them first."] if obj.restore_sessions.exists() else []
        return out + [f"Verifier {v} verifies it: delete the verifier first." for v in obj.verifiers.all()]
    if isinstance(obj, BackupConfiguration) and obj.follows_blueprint():
        return [f"It is made from blueprint '{obj.blueprint_name}', which would make it again: detach it first, or change "
                "the cluster's labels (the blueprint then pauses it) or the blueprint's selector."]
    if isinstance(obj, BackupConfiguration):
        # A running job needs its session row: deleting it under the job would lose the snapshot's outcome.
        running = obj.backup_sessions.running().count()
        return [f"{running} backup session(s) are pending or running: wait for them or cancel them first."] if running else []
    if isinstance(obj, RestoreSession) and not obj.is_completed():
        return [f"The restore is {obj.phase}: cancel it and wait for it to end first."]
    return []


def perform(obj: Any) -> bool:
    """Delete the row (True), or start deleting it in a job (False: WipeOut removes files first)."""
    from storage import flows

    if isinstance(obj, BackupStorage):
        return flows.delete_storage(obj)
    if isinstance(obj, Repository):
        return flows.delete_repository(obj)
    obj.delete()
    return True
