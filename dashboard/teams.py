"""A team's starting resources: a local-directory storage and a retention policy, made
the same way for the quick start's default team (`manage.py quickstart`) and for a team
a superuser creates on the dashboard."""
from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from storage.models import BackupStorage, RetentionPolicy
from tenancy.models import Team


@dataclass
class Provisioned:
    storage: BackupStorage | None = None
    retention: RetentionPolicy | None = None

    def lines(self) -> list[str]:
        made = []
        if self.storage is not None:
            made.append(f"local-directory storage '{self.storage.name}' at {self.storage.mount_path}")
        if self.retention is not None:
            made.append(f"retention policy '{self.retention.name}' ({self.retention.summary()})")
        return made


def provision_team(team: Team) -> Provisioned:
    """Each resource only when the team has none of its kind yet (so running it again is
    harmless). The storage is saved NotReady: the caller initializes it, or the scheduler's
    reconcile step does (the quick start runs this before Redis is up)."""
    made = Provisioned()
    if not BackupStorage.objects.filter(team=team).exists():
        root = settings.LOCAL_STORAGE_ROOT / team.slug
        root.mkdir(parents=True, exist_ok=True)
        storage = BackupStorage(team=team, name="local", provider="local", mount_path=str(root), default=True)
        storage.full_clean()
        storage.save()
        made.storage = storage
    if not RetentionPolicy.objects.filter(team=team).exists():
        made.retention = RetentionPolicy.objects.create(team=team, name="keep-a-week", keep_last=5, keep_daily=7,
                                                        failed_keep_last=2, default=True)
    return made
