"""The core API group, backup half: Cluster (AppBinding), BackupConfiguration and its
sessions, BackupSession, Snapshot."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from backups.addons import elasticsearch as addon
from backups.labels import validate_labels
from backups.validators import next_runs, split_list, validate_cluster_urls, validate_cron, validate_timezone
from runtime.models import RunningRow, RunPhase, Timed
from storage.models import Repository, RetentionPolicy, Secret
from tenancy.models import TeamOwned, TeamOwnedQuerySet, slug_validator


class Cluster(TeamOwned):
    """An Elasticsearch or OpenSearch cluster (KubeStash: AppBinding + the database)."""

    class Auth(models.TextChoices):
        NONE = "none", "No authentication"
        BASIC = "basic", "Username and password"
        API_KEY = "api_key", "API key"

    name = models.CharField(max_length=63, validators=[slug_validator])
    urls = models.TextField(validators=[validate_cluster_urls], help_text="One or more node URLs, one per line.")
    auth = models.CharField(max_length=10, choices=Auth.choices, default=Auth.NONE)
    auth_secret = models.ForeignKey(
        Secret, models.RESTRICT, null=True, blank=True, related_name="clusters",
        help_text="Keys username and password (basic) or api_key (API key).",
    )
    ca_bundle = models.TextField(blank=True, help_text="PEM CA certificates to trust.")
    verify_tls = models.BooleanField(default=True, help_text="Turn off only for test clusters (explicit opt-out).")
    timeout = models.PositiveIntegerField(default=60, help_text="Request timeout in seconds.")
    labels = models.JSONField(default=dict, blank=True, validators=[validate_labels],
                              help_text="Key/value labels, as Kubernetes labels; blueprints select clusters by them.")

    distribution = models.CharField(max_length=20, blank=True, editable=False)
    version = models.CharField(max_length=30, blank=True, editable=False)
    cluster_uuid = models.CharField(max_length=64, blank=True, editable=False)
    last_connected = models.DateTimeField(null=True, blank=True, editable=False)
    status_message = models.TextField(blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_cluster_name_per_team")]
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return self.name

    def url_list(self) -> list[str]:
        return split_list(self.urls)

    def uses_tls(self) -> bool:
        """Any https:// URL: TLS verification means nothing on a plain-HTTP cluster."""
        return any(u.lower().startswith("https://") for u in self.url_list())

    def clean(self) -> None:
        errors: dict[str, str] = {}
        secret = self.auth_secret
        if self.auth != self.Auth.NONE and secret is None:
            errors["auth_secret"] = "Choose the secret that holds the credentials, or set authentication to none."
        elif secret is not None:
            if self.team_id and secret.team_id != self.team_id:
                errors["auth_secret"] = "Choose a secret of the same team."
            else:
                need = {"basic": ["username", "password"], "api_key": ["api_key"]}.get(self.auth, [])
                missing = [k for k in need if k not in (secret.key_names or [])]
                if missing:
                    errors["auth_secret"] = f"Secret '{secret.name}' lacks {', '.join(missing)}: add it to the secret."
        if self.team_id and isinstance(self.labels, dict):
            from backups.blueprints import cluster_conflict

            conflict = cluster_conflict(self)
            if conflict:
                errors["labels"] = conflict
        if errors:
            raise ValidationError(errors)

    def connection_options(self) -> dict[str, Any]:
        """Keyword arguments for backups.elastic.connection.ClusterConfig (with credentials:
        use only inside a job or the request that tests the connection; never log it)."""
        data = self.auth_secret.get_data() if self.auth_secret is not None else {}
        return {
            "urls": self.url_list(),
            "username": data.get("username", "") if self.auth == self.Auth.BASIC else "",
            "password": data.get("password", "") if self.auth == self.Auth.BASIC else "",
            "api_key": data.get("api_key", "") if self.auth == self.Auth.API_KEY else "",
            "ca_data": self.ca_bundle,
            "verify_tls": self.verify_tls,
            "connect_timeout": min(10.0, float(self.timeout)),
            "request_timeout": float(self.timeout),
        }

    def connect(self) -> Any:
        """An open engine Connection to the cluster (inside a job: it carries credentials)."""
        from backups.elastic.connection import ClusterConfig, connect

        return connect(ClusterConfig(**self.connection_options()))


class BackupBlueprint(TeamOwned):
    """KubeStash's BackupBlueprint: a BackupConfiguration template that every cluster of
    the team whose labels match `selector` gets (backups/blueprints.py reconciles)."""

    DEFAULT_CONFIGURATION_NAME = "${CLUSTER_NAME}-${BLUEPRINT_NAME}"

    name = models.CharField(max_length=63, validators=[slug_validator])
    selector = models.JSONField(default=dict, help_text="matchLabels and matchExpressions, as a Kubernetes label selector.")
    configuration_name = models.CharField(
        max_length=200, default=DEFAULT_CONFIGURATION_NAME,
        help_text="Name of each configuration made, with variables such as ${CLUSTER_NAME}.")
    # A BackupConfiguration's spec without its target: backends, sessions, timeZone, paused.
    template = models.JSONField(default=dict)
    # Per cluster name: why its configuration could not be made or updated (the last reconcile).
    problems = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_backupblueprint_name_per_team")]
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from backups.blueprints import blueprint_errors

        errors = blueprint_errors(self)
        if errors:
            raise ValidationError(errors)


def pause_made_configurations(collector: Any, field: Any, sub_objs: Any, using: str) -> None:
    """on_delete of BackupConfiguration.blueprint: the configurations a deleted blueprint
    made stay (with their snapshots), paused, and become their users' own."""
    collector.add_field_update(field, None, sub_objs)
    collector.add_field_update(field.model._meta.get_field("paused"), True, sub_objs)
    collector.add_field_update(field.model._meta.get_field("blueprint_paused"), True, sub_objs)


class BackupConfiguration(TeamOwned):
    class Phase(models.TextChoices):
        READY = "Ready"
        NOT_READY = "NotReady"
        INVALID = "Invalid"

    name = models.CharField(max_length=63, validators=[slug_validator])
    target = models.ForeignKey(Cluster, models.RESTRICT, related_name="backup_configurations")
    paused = models.BooleanField(default=False)
    timezone = models.CharField(max_length=64, default="UTC", validators=[validate_timezone])

    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.NOT_READY, editable=False)
    status_message = models.TextField(blank=True, editable=False)

    # Made from a blueprint: `blueprint` while it follows it (null once detached or the
    # blueprint is deleted), `blueprint_name` for good, `blueprint_hash` the rendered spec
    # last applied, `blueprint_paused` when the blueprint (not a user) paused it.
    blueprint = models.ForeignKey(BackupBlueprint, pause_made_configurations, null=True, blank=True,
                                  related_name="configurations", editable=False)
    blueprint_name = models.CharField(max_length=63, blank=True, editable=False)
    blueprint_hash = models.CharField(max_length=64, blank=True, editable=False)
    blueprint_paused = models.BooleanField(default=False, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_backupconfiguration_name_per_team")]
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.target_id and self.team_id and self.target.team_id != self.team_id:
            raise ValidationError({"target": "Choose a cluster of the same team."})

    def is_ready(self) -> bool:
        return self.phase == self.Phase.READY

    def follows_blueprint(self) -> bool:
        """Made from a blueprint that still keeps it up to date (so users change the blueprint, or detach it)."""
        return self.blueprint_id is not None and not self.blueprint_paused


class BackupSessionConfig(models.Model):
    """One entry of BackupConfiguration.spec.sessions: a schedule, its repositories,
    retention, the addon task's parameters, hooks."""

    configuration = models.ForeignKey(BackupConfiguration, models.CASCADE, related_name="sessions")
    name = models.CharField(max_length=63, validators=[slug_validator], default="full")
    schedule = models.CharField(max_length=100, validators=[validate_cron], default="0 2 * * *")
    repositories = models.ManyToManyField(Repository, related_name="session_configs", blank=True)
    retention_policy = models.ForeignKey(RetentionPolicy, models.RESTRICT, null=True, blank=True, related_name="+")
    task_params = models.JSONField(default=dict, blank=True, validators=[addon.validate_backup_params])
    hooks = models.JSONField(
        default=dict, blank=True,
        validators=[addon.validate_backup_hooks],
    )
    session_history_limit = models.PositiveIntegerField(default=30)
    # KubeStash's scheduler.jobTemplate.backoffLimit: a failed backup job is run again
    # this many times before its snapshot (and the session) is Failed.
    backoff_limit = models.PositiveIntegerField(default=1, help_text="Retries of a failed backup job before it is Failed.")
    # Scheduler bookkeeping: the last cron tick this session acted on (fired or skipped).
    last_scheduled = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["configuration", "name"], name="unique_session_name_per_configuration")]
        ordering = ["configuration", "name"]

    def __str__(self) -> str:
        return f"{self.configuration.name}/{self.name}"

    @property
    def team_id(self) -> int:
        return self.configuration.team_id

    def clean(self) -> None:
        if self.retention_policy is not None and self.retention_policy.team_id != self.configuration.team_id:
            raise ValidationError({"retention_policy": "Choose a retention policy of the same team."})

    def params(self) -> dict[str, Any]:
        return addon.with_defaults(addon.BACKUP_PARAMS, self.task_params)

    def next_runs(self, count: int = 5, start: datetime | None = None) -> list[datetime]:
        return next_runs(self.schedule, self.configuration.timezone, count, start)


class Trigger(models.TextChoices):
    SCHEDULE = "schedule", "Schedule"
    INSTANT = "instant", "Instant"
    MANUAL = "manual", "Manual"


class SessionPhase(models.TextChoices):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    SKIPPED = "Skipped"
    # Beyond KubeStash's words: a user stopped it.
    CANCELLED = "Cancelled"


COMPLETED_PHASES = (SessionPhase.SUCCEEDED, SessionPhase.FAILED, SessionPhase.SKIPPED, SessionPhase.CANCELLED)


class BackupSessionQuerySet(TeamOwnedQuerySet):
    def for_dashboard(self) -> BackupSessionQuerySet:
        return self.select_related("configuration", "team").order_by("-created")

    def running(self) -> BackupSessionQuerySet:
        return self.filter(phase__in=(SessionPhase.PENDING, SessionPhase.RUNNING))


class BackupSession(TeamOwned, Timed):
    Phase = SessionPhase

    configuration = models.ForeignKey(BackupConfiguration, models.CASCADE, related_name="backup_sessions")
    session = models.CharField(max_length=63, help_text="The configuration's session this run belongs to.")
    name = models.CharField(max_length=120, editable=False)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANUAL)
    phase = models.CharField(max_length=10, choices=SessionPhase.choices, default=SessionPhase.PENDING)
    error = models.TextField(blank=True)
    cancelled_by = models.CharField(max_length=150, blank=True)
    retention = models.JSONField(default=dict, blank=True, help_text="What retention kept and removed.")
    hook_results = models.JSONField(default=list, blank=True)
    # The preBackup hooks' verdict (null: not run yet); they run once per session.
    pre_hooks_ok = models.BooleanField(null=True, editable=False)

    objects = BackupSessionQuerySet.as_manager()  # type: ignore[misc]  # a subclass of the base queryset

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["configuration", "-created"]), models.Index(fields=["phase"])]

    def __str__(self) -> str:
        return self.name or f"{self.configuration.name}-{self.session}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.name:
            stamp = (self.created or timezone.now()).strftime("%Y%m%d%H%M%S")
            # KubeStash names sessions <config>-<session>-<time>; the suffix keeps two
            # triggers within one second apart.
            self.name = f"{self.configuration.name}-{self.session}-{stamp}-{self.uuid.hex[:4]}"
        super().save(*args, **kwargs)

    def is_completed(self) -> bool:
        return self.phase in COMPLETED_PHASES


class Verification(models.TextChoices):
    VERIFIED = "Verified"
    FAILED = "Failed"


class Snapshot(TeamOwned, RunningRow):
    """One repository's part of a BackupSession; `components["dump"]` holds per-index results."""

    Phase = RunPhase

    Verification = Verification

    name = models.CharField(max_length=150, editable=False)
    # SET_NULL: deleting a configuration (and its sessions) leaves its snapshots, which the
    # repository still holds, browsable and restorable under the repository.
    backup_session = models.ForeignKey(BackupSession, models.SET_NULL, null=True, blank=True, related_name="snapshots")
    repository = models.ForeignKey(Repository, models.CASCADE, related_name="snapshots")
    snapshot_id = models.CharField(max_length=64, blank=True, help_text="The manifest id in the repository.")
    snapshot_time = models.DateTimeField(null=True, blank=True)
    size_bytes = models.BigIntegerField(default=0, help_text="Bytes of the streams (uncompressed).")
    uploaded_bytes = models.BigIntegerField(default=0, help_text="New bytes written to the storage.")
    total_docs = models.BigIntegerField(default=0)
    total_components = models.PositiveIntegerField(default=0)
    integrity = models.BooleanField(null=True)
    attempts = models.PositiveIntegerField(default=0, editable=False, help_text="Runs of the backup job so far.")
    # A Pending snapshot waits until then before its job may run (a retry's delay, or the
    # next look at a repository that is not Ready yet).
    not_before = models.DateTimeField(null=True, blank=True, editable=False)
    # Since when it waits for its repository to be Ready (null: it does not).
    waiting_since = models.DateTimeField(null=True, blank=True, editable=False)
    # What the last verified restore (a BackupVerifier's run, restores app) found.
    verification = models.CharField(max_length=10, choices=Verification.choices, blank=True, editable=False)
    verified = models.DateTimeField(null=True, blank=True, editable=False)
    verification_details = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        ordering = ["-created"]
        indexes = [models.Index(fields=["repository", "-created"]), models.Index(fields=["phase"])]

    def __str__(self) -> str:
        return self.name or str(self.uuid)

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self.name:
            base = self.backup_session.name if self.backup_session is not None else f"{self.repository.name}-{timezone.now():%Y%m%d%H%M%S}"
            self.name = f"{self.repository.name}-{base}"[:150]
        super().save(*args, **kwargs)
