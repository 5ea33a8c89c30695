"""The restore flow: a saved RestoreSession is enqueued on the `restores` queue; a
BackupVerifier's runs too, started by hand, by its schedule or after every N-th backup."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

import audit
from audit.models import Action
from backups.models import Snapshot
from restores.models import BackupVerifier, RestoreSession, VerificationRun

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


# -- verified restores (BackupVerifier) ---------------------------------------------------

def start_verification(verifier: BackupVerifier, snapshot: Snapshot, trigger: str = "manual") -> VerificationRun:
    """A Pending run of `verifier` on `snapshot`, its job enqueued on the restores queue on commit."""
    from restores import jobs

    with transaction.atomic():
        run = VerificationRun.objects.create(team=verifier.team, verifier=verifier, snapshot=snapshot, trigger=trigger)
        queue = django_rq.get_queue("restores")
        transaction.on_commit(lambda: queue.enqueue(jobs.run_verification, run.pk,
                                                    job_timeout=settings.RQ_QUEUES["restores"]["DEFAULT_TIMEOUT"]))
    return run


def snapshots_to_verify(verifier: BackupVerifier) -> list[Snapshot]:
    """The newest successful snapshot, or each successful one not verified (nor being verified) yet."""
    done = Snapshot.objects.filter(repository_id=verifier.repository_id, phase=Snapshot.Phase.SUCCEEDED).exclude(snapshot_id="")
    if verifier.snapshots == BackupVerifier.Snapshots.LATEST:
        newest = done.order_by("-created").first()
        return [newest] if newest is not None else []
    busy = VerificationRun.objects.filter(verifier=verifier, phase__in=(VerificationRun.Phase.PENDING, VerificationRun.Phase.RUNNING))
    return list(done.filter(verification="").exclude(pk__in=busy.values("snapshot_id")).order_by("created")[:20])


def verify_now(verifier: BackupVerifier, trigger: str = "manual") -> list[VerificationRun]:
    return [start_verification(verifier, s, trigger) for s in snapshots_to_verify(verifier)]


def snapshots_succeeded(snapshots: list[Snapshot]) -> None:
    """backups.flows.on_snapshots_succeeded: count the backup for the verifiers of each
    repository that verify after every N-th one, and start them on the N-th."""
    for repo_id in {s.repository_id for s in snapshots}:
        for verifier in BackupVerifier.objects.filter(repository_id=repo_id, paused=False, every_n_backups__gt=0):
            BackupVerifier.objects.filter(pk=verifier.pk).update(backups_seen=F("backups_seen") + 1)
            # Reset only from N: a concurrent session counts once, and only one starts the run.
            if BackupVerifier.objects.filter(pk=verifier.pk, backups_seen__gte=verifier.every_n_backups).update(backups_seen=0):
                verify_now(verifier, "backup")


def schedule_verifications(now: datetime) -> list[str]:
    """Scheduler step: a verifier whose cron tick is due runs (a tick later than
    SCHEDULER_GRACE is missed, as for backups, not replayed)."""
    from backups.scheduler import due_ticks

    grace = timedelta(seconds=settings.SCHEDULER_GRACE)
    out = []
    for verifier in BackupVerifier.objects.filter(paused=False).exclude(schedule="").select_related("team"):
        ticks = due_ticks(verifier.schedule, "UTC", verifier.last_scheduled or verifier.created, now)
        if not ticks or not BackupVerifier.objects.filter(pk=verifier.pk, last_scheduled=verifier.last_scheduled).update(
                last_scheduled=ticks[-1]):
            continue
        if now - ticks[-1] <= grace:
            runs = verify_now(verifier, "schedule")
            out.append(f"verify {verifier.team.slug}/{verifier.name} x{len(runs)}")
    return out
