"""The core API group, restore half: RestoreSession."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models

from backups.addons import elasticsearch as addon
from backups.models import Cluster, Snapshot
from backups.validators import validate_cron
from restores import rules
from restores.validators import validate_verifier_queries
from runtime.models import RunningRow, RunPhase
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


class BackupVerifier(TeamOwned):
    """KubeStash's BackupVerifier: restores a repository's snapshots into a scratch
    cluster, under an index prefix of its own, checks them and deletes what it restored."""

    class Snapshots(models.TextChoices):
        LATEST = "Latest", "the newest snapshot"
        EACH_NEW = "EachNew", "each snapshot not verified yet"

    name = models.CharField(max_length=63, validators=[slug_validator])
    repository = models.ForeignKey(Repository, models.RESTRICT, related_name="verifiers")
    target = models.ForeignKey(Cluster, models.RESTRICT, related_name="verifiers",
                               help_text="The scratch cluster restored into, under the prefix verify-<id>-.")
    schedule = models.CharField(max_length=100, blank=True, validators=[validate_cron],
                                help_text="Cron schedule (UTC), e.g. '0 6 * * *'; empty for none.")
    every_n_backups = models.PositiveIntegerField(null=True, blank=True,
                                                  help_text="Also verify after every N-th successful backup of the repository.")
    snapshots = models.CharField(max_length=10, choices=Snapshots.choices, default=Snapshots.LATEST)
    random_docs = models.PositiveIntegerField(default=0, help_text="Documents drawn at random and compared byte for byte (0: none).")
    queries = models.JSONField(default=list, blank=True, validators=[validate_verifier_queries],
                               help_text='A list of {"index": …, "query": {…}, "hits": N}: each query must match N documents.')
    paused = models.BooleanField(default=False)

    last_scheduled = models.DateTimeField(null=True, blank=True, editable=False)
    backups_seen = models.PositiveIntegerField(default=0, editable=False, help_text="Successful backups since the last verification.")
    # Index names a run is about to create or could not delete: the verifier's own, so a
    # next run deletes them instead of refusing the prefix as someone else's.
    owned_indices = models.JSONField(default=list, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_verifier_name_per_team")]
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def prefix(self) -> str:
        return f"verify-{self.uuid.hex[:8]}-"

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.repository_id and self.team_id and self.repository.team_id != self.team_id:
            errors["repository"] = "Choose a repository of the same team."
        if self.target_id and self.team_id and self.target.team_id != self.team_id:
            errors["target"] = "Choose a cluster of the same team."
        if not self.schedule and not self.every_n_backups:
            errors["schedule"] = "Set a schedule, or verify after every N backups (or both): otherwise it never runs."
        if self.random_docs > 1000:
            errors["random_docs"] = "Compare at most 1000 random documents (each is one request)."
        if errors:
            raise ValidationError(errors)


class VerificationRun(TeamOwned, RunningRow):
    """One run of a verifier on one snapshot: the row its job claims and heartbeats
    (runtime.jobs.Run); `components` holds what the checks found."""

    Phase = RunPhase

    name = models.CharField(max_length=150, editable=False)
    verifier = models.ForeignKey(BackupVerifier, models.CASCADE, related_name="runs")
    snapshot = models.ForeignKey(Snapshot, models.CASCADE, related_name="verification_runs")
    trigger = models.CharField(max_length=10, default="manual")  # schedule | backup | manual

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return self.name or f"{self.verifier.name}/{self.snapshot.snapshot_id[:8] or self.snapshot.name}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.name:
            self.name = f"{self.verifier.name}/{self.snapshot.snapshot_id[:8] or self.snapshot.name}"[:150]
        super().save(*args, **kwargs)
