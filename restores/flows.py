"""The restore flow: a saved RestoreSession is enqueued on the `restores` queue."""
from __future__ import annotations

from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

import audit
from audit.models import Action
from restores.models import RestoreSession

AUDIT_MAX_INDICES = 1000  # a restore of more names this many in its audit entry, and the count


def audit_details(restore: RestoreSession, indices: list[tuple[str, str]] | None = None) -> dict[str, Any]:
    """What the audit log keeps of a restore: source, snapshot, target, index patterns,
    rename and conflict policy, and (when the caller resolved them) the indices as
    source → target names."""
    params = restore.task_params or {}
    details: dict[str, Any] = {
        "repository": restore.repository.name, "snapshot": restore.snapshot, "target_cluster": restore.target.name,
        "indices": params.get("indices", "*"), "exclude": params.get("exclude", ""),
        "rename": [params["rename_pattern"], params.get("rename_replacement", "")] if params.get("rename_pattern") else None,
        "conflict": params.get("conflict", "fail"),
    }
    if indices is not None:
        details["restored_indices"] = [{"source": s, "target": t} for s, t in indices[:AUDIT_MAX_INDICES]]
        details["restored_index_count"] = len(indices)
    return details


def start_restore(restore: RestoreSession, actor: Any = None, indices: list[tuple[str, str]] | None = None) -> None:
    """Enqueue the restore on commit. `actor` (a request, user or audit Actor) started it:
    the audit log records it with audit_details()."""
    from restores import jobs

    if actor is not None:
        audit.record(actor, restore.team, Action.RESTORE_STARTED, restore, details=audit_details(restore, indices))

    queue = django_rq.get_queue("restores")
    transaction.on_commit(
        lambda: queue.enqueue(jobs.run_restore, restore.pk, job_timeout=settings.RQ_QUEUES["restores"]["DEFAULT_TIMEOUT"])
    )


def cancel_restore(restore: RestoreSession, user: Any, actor: Any = None) -> None:
    who = getattr(user, "username", "") or str(user or "unknown")
    if actor is not None or getattr(user, "is_authenticated", False):
        audit.record(actor or user, restore.team, Action.RESTORE_CANCELLED, restore,
                     details={**audit_details(restore), "phase": restore.phase})
    now = timezone.now()
    if RestoreSession.objects.filter(pk=restore.pk, phase=RestoreSession.Phase.PENDING).update(
        phase=RestoreSession.Phase.CANCELLED, cancelled_by=who, finished=now, error=f"cancelled by {who}"
    ):
        return
    RestoreSession.objects.filter(pk=restore.pk, phase=RestoreSession.Phase.RUNNING).update(cancel_requested_by=who)


def retry_lost_restore(restore: RestoreSession, message: str, now: Any) -> str | None:
    """A restore whose worker died goes back to Pending, to resume (restores/load/resume.py),
    at most RESTORE_ATTEMPTS attempts in all; the reaper fails it when this returns None.
    The scheduler's requeue of lost Pending rows enqueues it again."""
    attempt = int(((restore.components or {}).get("resume") or {}).get("attempt") or 1)
    limit = int(settings.RESTORE_ATTEMPTS)
    if attempt >= limit:
        return None
    error = f"attempt {attempt} of {limit} was lost, resuming: {message}"
    if RestoreSession.objects.filter(pk=restore.pk, phase=RestoreSession.Phase.RUNNING).update(
            phase=RestoreSession.Phase.PENDING, error=error, claim="", heartbeat=None):
        return f"{restore.name} (resuming)"
    return ""
