"""The backup flow of DESIGN.md §2, step for step: configuration ready → instant
backup; trigger → BackupSession + one Snapshot per repository + one job each; the end
of the last job ends the session; what the reaper (runtime.reaper) does with a
snapshot whose worker died."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

import audit
from audit.models import Action
from backups.models import BackupConfiguration, BackupSession, BackupSessionConfig, SessionPhase, Snapshot, Trigger
from storage.models import Repository

log = logging.getLogger(__name__)

# Called with the succeeded snapshots of a session that just ended (the restores app
# registers its verifiers' "after every N-th backup" trigger here: backups does not import it).
on_snapshots_succeeded: list[Callable[[list[Snapshot]], object]] = []


def _user_label(user: Any) -> str:
    return getattr(user, "username", "") or (str(user) if user else "")


def configuration_saved(config: BackupConfiguration) -> None:
    """After a configuration (and its sessions) is saved: initialize its repositories;
    once every one is Ready the configuration becomes Ready and an instant backup starts."""
    from storage import flows as storage_flows

    repos = Repository.objects.filter(session_configs__configuration=config).select_related("storage").distinct()
    for repo in repos:
        # A repository on a storage not Ready yet is initialized by the storage's own
        # initialization when it succeeds (storage.jobs.init_storage), not twice.
        if not repo.is_ready() and repo.storage.is_ready():
            storage_flows.initialize_repository(repo)
    transaction.on_commit(lambda: update_configuration_phase(config.pk))


def repository_ready(repo: Repository) -> None:
    """storage.jobs.on_repository_ready callback: backups that waited for it go now."""
    from backups import jobs

    waiting = list(Snapshot.objects.filter(repository=repo, phase=Snapshot.Phase.PENDING, waiting_since__isnull=False)
                   .values_list("pk", flat=True))
    Snapshot.objects.filter(pk__in=waiting).update(not_before=None)
    queue = django_rq.get_queue("backups")
    for pk in waiting:
        transaction.on_commit(partial(queue.enqueue, jobs.run_backup, pk,
                                      job_timeout=settings.RQ_QUEUES["backups"]["DEFAULT_TIMEOUT"]))
    for config_pk in BackupConfiguration.objects.filter(sessions__repositories=repo).values_list("pk", flat=True).distinct():
        update_configuration_phase(config_pk)


def repository_not_ready(repo: Repository) -> None:
    """storage.jobs.on_repository_not_ready callback: the configurations say the reason."""
    repository_ready(repo)


def _not_ready_reason(repo: Repository) -> str:
    if repo.status_message:
        return repo.status_message
    if not repo.storage.is_ready():
        return f"storage '{repo.storage.name}' is NotReady: {repo.storage.status_message or 'not initialized yet'}"
    return "initializing"


def update_configuration_phase(config_pk: int) -> str:
    config = BackupConfiguration.objects.get(pk=config_pk)
    sessions = list(config.sessions.prefetch_related("repositories__storage"))
    repos = {r.pk: r for s in sessions for r in s.repositories.all()}
    waiting = [r for r in repos.values() if not r.is_ready()]
    if not sessions or not repos:
        BackupConfiguration.objects.filter(pk=config_pk).update(
            phase=BackupConfiguration.Phase.INVALID, status_message="add a session with at least one repository"
        )
        return BackupConfiguration.Phase.INVALID
    if waiting:
        message = "waiting for repositories: " + ", ".join(f"{r.name} ({_not_ready_reason(r)})" for r in waiting)
        BackupConfiguration.objects.filter(pk=config_pk).update(phase=BackupConfiguration.Phase.NOT_READY, status_message=message)
        return BackupConfiguration.Phase.NOT_READY
    # The conditional update makes exactly one caller see the NotReady → Ready step. One
    # transaction with the instant sessions: a page polling the configuration never sees it
    # Ready with no session yet (and stops polling before the backup appears).
    with transaction.atomic():
        became_ready = BackupConfiguration.objects.filter(pk=config_pk).exclude(phase=BackupConfiguration.Phase.READY).update(
            phase=BackupConfiguration.Phase.READY, status_message=""
        )
        if became_ready and not config.paused:
            for session_config in sessions:
                trigger_backup(session_config, Trigger.INSTANT)
    return BackupConfiguration.Phase.READY


def trigger_backup(session_config: BackupSessionConfig, trigger: str = Trigger.MANUAL, user: Any = None,
                   now: datetime | None = None, actor: Any = None) -> BackupSession:
    """Create the BackupSession and its Snapshots in one transaction and enqueue one job
    per snapshot on commit. A session still running is not doubled: the new one is Skipped.
    `actor` (a request, user or audit Actor) asked for it: the audit log records it."""
    from backups import jobs

    now = now or timezone.now()
    with transaction.atomic():
        config = BackupConfiguration.objects.select_for_update().select_related("team").get(pk=session_config.configuration_id)
        running = (
            BackupSession.objects.filter(configuration=config, session=session_config.name)
            .filter(phase__in=(SessionPhase.PENDING, SessionPhase.RUNNING)).order_by("created").first()
        )
        session = BackupSession(team=config.team, configuration=config, session=session_config.name, trigger=trigger)
        repos = list(session_config.repositories.all())
        if running is not None:
            session.phase = SessionPhase.SKIPPED
            session.error = f"skipped: {running.name} is still {running.phase}"
        elif not repos:
            session.phase = SessionPhase.FAILED
            session.error = "the session has no repository: add one to the configuration"
        if session.error:
            session.finished = now
        session.save()
        if actor is not None:
            audit.record(actor, config.team, Action.BACKUP_NOW, config, details={
                "session": session_config.name, "backup_session": session.name, "phase": session.phase,
                "repositories": [r.name for r in repos]})
        if session.error:
            return session
        queue = django_rq.get_queue("backups")
        for repo in repos:
            snapshot = Snapshot.objects.create(team=config.team, backup_session=session, repository=repo)
            transaction.on_commit(partial(queue.enqueue, jobs.run_backup, snapshot.pk, job_timeout=settings.RQ_QUEUES["backups"]["DEFAULT_TIMEOUT"]))
        log.info("backup session %s created (%s)", session.name, trigger)
    return session


def cancel_session(session: BackupSession, user: Any, actor: Any = None) -> None:
    """Pending snapshots are cancelled at once; running ones stop at their next batch.
    `actor` (a request or audit Actor; default `user`) goes to the audit log."""
    who = _user_label(user) or "unknown"
    if actor is not None or getattr(user, "is_authenticated", False):
        audit.record(actor or user, session.team, Action.BACKUP_CANCELLED, session,
                     details={"configuration": session.configuration.name, "phase": session.phase})
    Snapshot.objects.filter(backup_session=session, phase=Snapshot.Phase.PENDING).update(
        phase=Snapshot.Phase.CANCELLED, finished=timezone.now(), error=f"cancelled by {who}"
    )
    Snapshot.objects.filter(backup_session=session, phase=Snapshot.Phase.RUNNING).update(cancel_requested_by=who)
    BackupSession.objects.filter(pk=session.pk, cancelled_by="").update(cancelled_by=who)
    finish_session(session.pk)


def finish_session(session_pk: int) -> str | None:
    """End the session once every snapshot is completed. Returns the final phase, or None."""
    from backups import notifications

    snapshots = list(Snapshot.objects.filter(backup_session_id=session_pk).select_related("repository"))
    if any(not s.is_completed() for s in snapshots):
        return None
    session = BackupSession.objects.get(pk=session_pk)
    failed = [s for s in snapshots if s.phase == Snapshot.Phase.FAILED]
    cancelled = [s for s in snapshots if s.phase == Snapshot.Phase.CANCELLED]
    if failed:
        phase = SessionPhase.FAILED
        error = "; ".join(f"{s.repository.name}: {s.error}" for s in failed)
    elif cancelled:
        phase = SessionPhase.CANCELLED
        error = f"cancelled by {session.cancelled_by or cancelled[0].cancel_requested_by or 'a user'}"
    else:
        phase, error = SessionPhase.SUCCEEDED, ""
    started = min((s.started for s in snapshots if s.started), default=None) or session.started or timezone.now()
    done = BackupSession.objects.filter(pk=session_pk, phase__in=(SessionPhase.PENDING, SessionPhase.RUNNING)).update(
        phase=phase, error=error[:5000], finished=timezone.now(), started=started
    )
    if not done:
        return None  # another job ended it
    session.refresh_from_db()
    log.info("backup session %s %s %s", session.name, phase, error)
    _enqueue_post_hooks(session)
    try:
        notifications.session_finished(session)
    except Exception:
        log.exception("notifying the end of %s failed", session.name)
    succeeded = [s for s in snapshots if s.phase == Snapshot.Phase.SUCCEEDED]
    for callback in on_snapshots_succeeded if succeeded else []:
        try:
            callback(succeeded)
        except Exception:
            log.exception("after the snapshots of %s succeeded: %s failed", session.name, callback)
    _trim_history(session)
    return phase


def _enqueue_post_hooks(session: BackupSession) -> None:
    """postBackup hooks run once per session, in a job (never in a web request or the
    scheduler's turn), whatever the outcome, as KubeStash runs them."""
    from backups import jobs

    hooks = (BackupSessionConfig.objects.filter(configuration_id=session.configuration_id, name=session.session)
             .values_list("hooks", flat=True).first() or {})
    if hooks.get("postBackup"):
        transaction.on_commit(lambda: django_rq.get_queue("default").enqueue(jobs.run_post_hooks, session.pk))


def _trim_history(session: BackupSession) -> None:
    limit = (
        BackupSessionConfig.objects.filter(configuration_id=session.configuration_id, name=session.session)
        .values_list("session_history_limit", flat=True).first()
    )
    if not limit:
        return
    old = BackupSession.objects.filter(configuration_id=session.configuration_id, session=session.session).order_by("-created")[limit:]
    # Only session records go; snapshot rows stay while the repository holds them.
    Snapshot.objects.filter(backup_session__in=list(old)).update(backup_session=None)
    BackupSession.objects.filter(pk__in=[s.pk for s in old]).delete()


def snapshot_due(now: datetime, old: datetime) -> Q:
    """Pending snapshots the reaper may requeue: a retry's snapshot waits for its
    not_before; then it is due whatever its age."""
    return Q(not_before__isnull=True, created__lt=old) | Q(not_before__lte=now)


def _backoff_limit(snap: Snapshot) -> int:
    session = snap.backup_session
    if session is None:
        return 0
    return int(BackupSessionConfig.objects.filter(configuration_id=session.configuration_id, name=session.session)
               .values_list("backoff_limit", flat=True).first() or 0)


def retry_lost_snapshot(snap: Snapshot, message: str, now: datetime) -> str | None:
    """A killed job is a failed job: it runs again as its backoffLimit says (the reaper
    fails it when this returns None)."""
    backoff = _backoff_limit(snap)
    attempt = max(snap.attempts, 1)  # a row from before attempts were counted ran once
    if attempt > backoff:
        return None
    delay = max(0, int(settings.BACKUP_RETRY_DELAY))
    retry = f"attempt {attempt} of {backoff + 1} failed, retrying in {delay}s (backoffLimit {backoff}): {message}"
    if Snapshot.objects.filter(pk=snap.pk, phase=Snapshot.Phase.RUNNING).update(
            phase=Snapshot.Phase.PENDING, error=retry, claim="", heartbeat=None, progress={},
            not_before=now + timedelta(seconds=delay)):
        return f"{snap.name} (retrying)"
    return ""


def snapshot_reaped(snap: Snapshot) -> None:
    if snap.backup_session_id:
        finish_session(snap.backup_session_id)
