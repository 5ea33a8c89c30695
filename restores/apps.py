from __future__ import annotations

from django.apps import AppConfig


class RestoresConfig(AppConfig):
    name = "restores"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from restores import flows, jobs
        from restores.models import RestoreSession
        from runtime import reaper

        reaper.register(reaper.RunningKind(RestoreSession, "restores", jobs.run_restore, retry=flows.retry_lost_restore))
