from __future__ import annotations

from django.apps import AppConfig


class BackupsConfig(AppConfig):
    name = "backups"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backups import flows, notifications
        from backups import jobs as backup_jobs
        from backups.models import Snapshot
        from runtime import reaper
        from storage import jobs

        # storage must not import backups: it calls back when a repository is Ready, or
        # failed to be (so configurations say why instead of "initializing").
        if flows.repository_ready not in jobs.on_repository_ready:
            jobs.on_repository_ready.append(flows.repository_ready)
        if flows.repository_not_ready not in jobs.on_repository_not_ready:
            jobs.on_repository_not_ready.append(flows.repository_not_ready)
        if notifications.check_failed not in jobs.on_check_failed:
            jobs.on_check_failed.append(notifications.check_failed)
        reaper.register(reaper.RunningKind(
            Snapshot, "backups", backup_jobs.run_backup, due=flows.snapshot_due, retry=flows.retry_lost_snapshot,
            on_failed=flows.snapshot_reaped, lost_note="; nothing was committed", select_related=("backup_session",),
        ))
