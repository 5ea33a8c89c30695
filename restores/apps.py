from __future__ import annotations

from django.apps import AppConfig


class RestoresConfig(AppConfig):
    name = "restores"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from backups import flows as backup_flows
        from backups import scheduler
        from restores import flows, jobs
        from restores.models import RestoreSession, VerificationRun
        from runtime import reaper

        reaper.register(reaper.RunningKind(RestoreSession, "restores", jobs.run_restore, retry=flows.retry_lost_restore))
        reaper.register(reaper.RunningKind(VerificationRun, "restores", jobs.run_verification,
                                           on_failed=jobs.verification_reaped, select_related=("verifier", "snapshot")))
        # backups must not import restores: it calls back after a backup and each turn.
        if flows.snapshots_succeeded not in backup_flows.on_snapshots_succeeded:
            backup_flows.on_snapshots_succeeded.append(flows.snapshots_succeeded)
        if all(name != "verifiers" for name, _ in scheduler.extra_steps):
            scheduler.extra_steps.append(("verifiers", flows.schedule_verifications))
