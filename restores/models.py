"""The core API group, restore half: RestoreSession."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from backups.addons import elasticsearch as addon
from backups.models import Cluster
from restores import rules
from runtime.models import RunningRow
from storage.models import Repository
from tenancy.models import TeamOwned, TeamOwnedQuerySet, slug_validator


class RestoreSessionQuerySet(TeamOwnedQuerySet):
    def for_dashboard(self) -> RestoreSessionQuerySet:
        return self.select_related("target", "repository", "team").order_by("-created")


class RestoreSession(TeamOwned, RunningRow):
    class Phase(models.TextChoices):
        PENDING = "Pending"
        RUNNING = "Running"
        SUCCEEDED = "Succeeded"
        FAILED = "Failed"
        INVALID = "Invalid"
        CANCELLED = "Cancelled"

    name = models.CharField(max_length=63, validators=[slug_validator])
    target = models.ForeignKey(Cluster, models.RESTRICT, related_name="restore_sessions")
    repository = models.ForeignKey(Repository, models.RESTRICT, related_name="restore_sessions")
    snapshot = models.CharField(max_length=64, default="latest", help_text="A snapshot id of the repository, or latest.")
    resolved_snapshot_id = models.CharField(max_length=64, blank=True, editable=False)
    task_params = models.JSONField(default=dict, blank=True, validators=[addon.validate_restore_params])
    hooks = models.JSONField(
        default=dict, blank=True, validators=[addon.validate_restore_hooks],
    )
    created_by = models.CharField(max_length=150, blank=True)

    # RunningRow's phase with Invalid (a restore that cannot start) added.
    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.PENDING)
    cancelled_by = models.CharField(max_length=150, blank=True)
    hook_results = models.JSONField(default=list, blank=True)

    objects = RestoreSessionQuerySet.as_manager()  # type: ignore[misc]  # a subclass of the base queryset

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_restore_name_per_team")]
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str | list[str]] = {}
        if self.target_id and self.team_id and self.target.team_id != self.team_id:
            errors["target"] = "Choose a cluster of the same team."
        if self.repository_id and self.team_id and self.repository.team_id != self.team_id:
            errors["repository"] = "Choose a repository of the same team."
        if isinstance(self.task_params, dict):
            # names and types are the field's validator; the restore's rules are restores.rules'
            problems = rules.param_errors(self.task_params)
            if problems:
                errors["task_params"] = problems
        if errors:
            raise ValidationError(errors)

    def params(self) -> dict[str, Any]:
        return addon.with_defaults(addon.RESTORE_PARAMS, self.task_params)
