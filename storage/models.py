"""The storage API group: Secret, BackupStorage, RetentionPolicy, Repository."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from storage import encryption
from storage.validators import (
    parse_duration,
    validate_azure_container,
    validate_duration,
    validate_prefix,
    validate_s3_bucket,
)
from tenancy.models import TeamOwned, slug_validator

_KEY_RE = r"^[-._a-zA-Z0-9]+$"


class ReadyPhase(models.TextChoices):
    """KubeStash's phases of BackupStorage and Repository."""

    READY = "Ready"
    NOT_READY = "NotReady"


class DeletionPolicy(models.TextChoices):
    DELETE = "Delete"
    WIPE_OUT = "WipeOut"


class Secret(TeamOwned):
    """Named key/value credentials, encrypted at rest, never shown back."""

    name = models.CharField(max_length=63, validators=[slug_validator])
    description = models.CharField(max_length=200, blank=True)
    encrypted_data = models.TextField(blank=True, editable=False)
    # The names of the keys are not secret; keeping them in clear lets pages say
    # "username, password are set" without decrypting anything.
    key_names = models.JSONField(default=list, blank=True, editable=False)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_secret_name_per_team")]
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return self.name

    def __repr__(self) -> str:
        return f"<Secret {self.team_id}/{self.name} keys={self.key_names}>"

    def get_data(self) -> dict[str, str]:
        return encryption.decrypt_mapping(self.encrypted_data)

    def get(self, key: str, default: str = "") -> str:
        return self.get_data().get(key, default)

    def set_data(self, data: dict[str, str]) -> None:
        for key in data:
            if not key or not re.match(_KEY_RE, key):
                raise ValidationError(
                    {"data": f"'{key}' is not a valid key: use letters, digits, '-', '_' and '.' (as in a Kubernetes Secret)."}
                )
        self.encrypted_data = encryption.encrypt_mapping(dict(data))
        self.key_names = sorted(data)

    def update_data(self, changes: dict[str, str], remove: list[str] | tuple[str, ...] = ()) -> None:
        """Replace the given keys, keep the others (forms leave blank values unchanged)."""
        data = self.get_data()
        data.update(changes)
        for key in remove:
            data.pop(key, None)
        self.set_data(data)

    @property
    def is_set(self) -> bool:
        return bool(self.key_names)


class BackupStorage(TeamOwned):
    class Provider(models.TextChoices):
        S3 = "s3", "S3 or S3-compatible"
        GCS = "gcs", "Google Cloud Storage"
        AZURE = "azure", "Azure Blob Storage"
        LOCAL = "local", "Local directory"

    Phase = ReadyPhase
    DeletionPolicy = DeletionPolicy

    name = models.CharField(max_length=63, validators=[slug_validator])
    provider = models.CharField(max_length=10, choices=Provider.choices, default=Provider.S3)
    bucket = models.CharField(
        max_length=63, blank=True, help_text="Bucket (S3, GCS) or container (Azure). Empty for a local directory."
    )
    prefix = models.CharField(max_length=255, blank=True, validators=[validate_prefix])
    endpoint = models.URLField(blank=True, help_text="S3-compatible or emulator endpoint, e.g. https://minio.example:9000.")
    region = models.CharField(max_length=50, blank=True)
    path_style = models.BooleanField(default=False, help_text="Path-style S3 addressing (MinIO, SeaweedFS, Ceph).")
    storage_account = models.CharField(max_length=24, blank=True, help_text="Azure storage account name.")
    mount_path = models.CharField(
        max_length=500, blank=True, help_text="Local directory (must be under an allowed local storage root)."
    )
    ca_bundle = models.TextField(blank=True, help_text="PEM CA certificates for a private endpoint.")
    insecure_tls = models.BooleanField(default=False, help_text="Skip TLS verification (explicit opt-in).")
    secret = models.ForeignKey(Secret, models.RESTRICT, null=True, blank=True, related_name="storages")
    default = models.BooleanField(default=False)
    deletion_policy = models.CharField(max_length=10, choices=DeletionPolicy.choices, default=DeletionPolicy.DELETE)

    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.NOT_READY, editable=False)
    status_message = models.TextField(blank=True, editable=False)
    total_size = models.BigIntegerField(default=0, editable=False)
    last_initialized = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_storage_name_per_team")]
        ordering = ["team", "name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, str] = {}
        if self.provider == self.Provider.LOCAL:
            if self.bucket:
                errors["bucket"] = "A local directory has no bucket: leave it empty and set the mount path."
            if not self.mount_path:
                errors["mount_path"] = "Set the directory to write to, e.g. " + str(settings.LOCAL_STORAGE_ROOT / "team")
            else:
                error = _local_path_error(self.mount_path)
                if error:
                    errors["mount_path"] = error
        else:
            if not self.bucket:
                noun = "container" if self.provider == self.Provider.AZURE else "bucket"
                errors["bucket"] = f"Set the {noun} to write to."
            else:
                try:
                    if self.provider == self.Provider.AZURE:
                        validate_azure_container(self.bucket)
                    else:
                        validate_s3_bucket(self.bucket)
                except ValidationError as e:
                    errors["bucket"] = e.messages[0]
            if self.provider == self.Provider.AZURE and not self.storage_account and not self._secret_has("AZURE_STORAGE_CONNECTION_STRING"):
                errors["storage_account"] = "Set the storage account, or give a secret with AZURE_STORAGE_CONNECTION_STRING."
            if self.mount_path:
                errors["mount_path"] = "Only a local directory storage has a mount path: leave it empty."
        if self.secret is not None and self.team_id and self.secret.team_id != self.team_id:
            errors["secret"] = "Choose a secret of the same team."
        if not errors and self._overlaps_another_storage():
            # Of any team: a WipeOut of a parent would delete a child's repositories. The
            # message names nothing of the other storage (it may be another team's).
            field, what = ("mount_path", "directory") if self.provider == self.Provider.LOCAL else ("prefix", "prefix")
            errors[field] = f"This location overlaps a storage that already exists: choose another {what}."
        if errors:
            raise ValidationError(errors)

    def location_key(self) -> tuple[str, ...]:
        """Where the storage's files live, normalised so that equal locations compare
        equal: the provider, then the bucket and the prefix's segments, or a local
        directory's real path segments. One location lies inside another when its key
        starts with the other's."""
        prefix = tuple(part for part in self.prefix.split("/") if part)
        if self.provider == self.Provider.LOCAL:
            real = Path(os.path.realpath(os.path.join(self.mount_path, *prefix)))
            return (self.provider, *Path(os.path.normcase(real)).parts)
        # Azure container names are lowercase-only (the service folds them); S3 and GCS
        # buckets and every backend's object keys are case-sensitive.
        bucket = self.bucket.lower() if self.provider == self.Provider.AZURE else self.bucket
        return (self.provider, bucket, *prefix)

    def _overlaps_another_storage(self) -> bool:
        mine = self.location_key()
        others = BackupStorage.objects.filter(provider=self.provider).exclude(pk=self.pk)
        if self.provider == self.Provider.AZURE:
            others = others.filter(bucket__iexact=self.bucket)
        elif self.provider != self.Provider.LOCAL:
            others = others.filter(bucket=self.bucket)
        for other in others.only("provider", "bucket", "prefix", "mount_path"):
            theirs = other.location_key()
            shorter = min(len(mine), len(theirs))
            if mine[:shorter] == theirs[:shorter]:
                return True
        return False

    def _secret_has(self, key: str) -> bool:
        return self.secret is not None and key in (self.secret.key_names or [])

    def location(self) -> str:
        """Where the data goes, for people (no credentials)."""
        if self.provider == self.Provider.LOCAL:
            return f"file://{self.mount_path}"
        scheme = {"s3": "s3", "gcs": "gs", "azure": "azure"}[self.provider]
        where = f"{scheme}://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where} at {self.endpoint}" if self.endpoint else where

    def backend_options(self) -> dict[str, Any]:
        """Keyword arguments for storage.backends.open_backend (credentials included:
        call only inside a job or a request that needs them, never log the result).

        The secret's keys are KubeStash's: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY
        (/ AWS_SESSION_TOKEN) for s3, GOOGLE_SERVICE_ACCOUNT_JSON_KEY for gcs,
        AZURE_ACCOUNT_KEY or AZURE_STORAGE_CONNECTION_STRING / AZURE_SAS_TOKEN for azure."""
        data = self.secret.get_data() if self.secret is not None else {}
        credentials: dict[str, str] = {}
        if self.provider == self.Provider.S3:
            for key, engine_key in (("AWS_ACCESS_KEY_ID", "access_key_id"), ("AWS_SECRET_ACCESS_KEY", "secret_access_key"),
                                    ("AWS_SESSION_TOKEN", "session_token")):
                if data.get(key):
                    credentials[engine_key] = data[key]
        elif self.provider == self.Provider.GCS:
            if data.get("GOOGLE_SERVICE_ACCOUNT_JSON_KEY"):
                credentials["service_account_json"] = data["GOOGLE_SERVICE_ACCOUNT_JSON_KEY"]
        elif self.provider == self.Provider.AZURE:
            if data.get("AZURE_STORAGE_CONNECTION_STRING"):
                credentials["connection_string"] = data["AZURE_STORAGE_CONNECTION_STRING"]
            if self.storage_account:
                credentials["account_name"] = self.storage_account
            if data.get("AZURE_ACCOUNT_KEY"):
                credentials["account_key"] = data["AZURE_ACCOUNT_KEY"]
            if data.get("AZURE_SAS_TOKEN"):
                credentials["sas_token"] = data["AZURE_SAS_TOKEN"]
        return {
            "kind": self.provider,
            "bucket": self.bucket,
            "prefix": self.prefix,
            "endpoint": self.endpoint,
            "region": self.region,
            "path_style": self.path_style,
            "ca_bundle": self.ca_bundle,
            "insecure": self.insecure_tls,
            "credentials": credentials,
            "root": self.mount_path,
        }

    def is_ready(self) -> bool:
        return self.phase == self.Phase.READY

    def is_initializing(self) -> bool:
        """NotReady without a reason: its init job has not answered yet (a failed one writes why)."""
        return self.phase == self.Phase.NOT_READY and not self.status_message


def _local_path_error(mount_path: str) -> str | None:
    path = Path(mount_path)
    if not path.is_absolute():
        return "Write an absolute path, e.g. " + str(settings.LOCAL_STORAGE_ROOT / "team")
    roots = [Path(r).resolve() for r in getattr(settings, "LOCAL_STORAGE_ALLOWED_ROOTS", [settings.LOCAL_STORAGE_ROOT])]
    resolved = path.resolve()
    if not any(resolved == root or root in resolved.parents for root in roots):
        allowed = ", ".join(str(r) for r in roots)
        return f"'{mount_path}' is outside the allowed local storage roots ({allowed}): choose a directory under one of them."
    return None


class RetentionPolicy(TeamOwned):
    """KubeStash RetentionPolicy: which snapshots a repository keeps."""

    name = models.CharField(max_length=63, validators=[slug_validator])
    max_retention_period = models.CharField(
        max_length=10, blank=True, validators=[validate_duration],
        help_text="Remove successful snapshots older than this (e.g. 30d, 12w, 1y); empty for no limit.",
    )
    keep_last = models.PositiveIntegerField(null=True, blank=True)
    keep_hourly = models.PositiveIntegerField(null=True, blank=True)
    keep_daily = models.PositiveIntegerField(null=True, blank=True)
    keep_weekly = models.PositiveIntegerField(null=True, blank=True)
    keep_monthly = models.PositiveIntegerField(null=True, blank=True)
    keep_yearly = models.PositiveIntegerField(null=True, blank=True)
    failed_keep_last = models.PositiveIntegerField(null=True, blank=True, help_text="Failed snapshots to keep.")
    default = models.BooleanField(default=False)

    KEEP_FIELDS = ("keep_last", "keep_hourly", "keep_daily", "keep_weekly", "keep_monthly", "keep_yearly")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_retention_name_per_team")]
        ordering = ["team", "name"]
        verbose_name_plural = "retention policies"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        keeps_some = any(getattr(self, f) for f in self.KEEP_FIELDS)
        if not keeps_some and not self.max_retention_period:
            raise ValidationError(
                "This policy keeps no successful snapshot: set at least one of keep last, hourly, daily, "
                "weekly, monthly or yearly above zero, or a max retention period."
            )

    def rules(self) -> dict[str, Any]:
        """The engine's retention rules (storage.repo.RetentionRules keyword arguments)."""
        return {
            "last": self.keep_last,
            "hourly": self.keep_hourly,
            "daily": self.keep_daily,
            "weekly": self.keep_weekly,
            "monthly": self.keep_monthly,
            "yearly": self.keep_yearly,
            "failed_last": self.failed_keep_last,
            "max_age": parse_duration(self.max_retention_period) if self.max_retention_period else None,
        }

    def summary(self) -> str:
        parts = [f"{getattr(self, f)} {f.removeprefix('keep_')}" for f in self.KEEP_FIELDS if getattr(self, f)]
        if self.max_retention_period:
            parts.append(f"at most {self.max_retention_period}")
        if self.failed_keep_last:
            parts.append(f"{self.failed_keep_last} failed")
        return ", ".join(parts) or "-"




class Repository(TeamOwned):
    """One directory in one BackupStorage, with its encryption secret."""

    Phase = ReadyPhase
    DeletionPolicy = DeletionPolicy

    name = models.CharField(max_length=63, validators=[slug_validator])
    storage = models.ForeignKey(BackupStorage, models.RESTRICT, related_name="repositories")
    directory = models.CharField(max_length=255, validators=[validate_prefix], help_text="Path inside the storage.")
    encryption_secret = models.ForeignKey(
        Secret, models.RESTRICT, related_name="repositories",
        help_text="Secret holding the repository password under the key RESTIC_PASSWORD (KubeStash's key) or password.",
    )
    deletion_policy = models.CharField(max_length=10, choices=DeletionPolicy.choices, default=DeletionPolicy.DELETE)

    phase = models.CharField(max_length=10, choices=Phase.choices, default=Phase.NOT_READY, editable=False)
    status_message = models.TextField(blank=True, editable=False)
    repository_id = models.CharField(max_length=64, blank=True, editable=False)
    size_bytes = models.BigIntegerField(default=0, editable=False)
    snapshot_count = models.PositiveIntegerField(default=0, editable=False)
    last_backup = models.DateTimeField(null=True, blank=True, editable=False)
    integrity = models.BooleanField(null=True, editable=False)
    last_check = models.DateTimeField(null=True, blank=True, editable=False)
    last_check_result = models.JSONField(default=dict, blank=True, editable=False)
    last_prune = models.DateTimeField(null=True, blank=True, editable=False)
    # Scheduled checks read chunk subset (check_cycle % t) + 1 of t, then count up: over t
    # checks every chunk is read once (restic's --read-data-subset n/t).
    check_cycle = models.PositiveIntegerField(default=0, editable=False)


    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "name"], name="unique_repository_name_per_team")]
        ordering = ["team", "name"]
        verbose_name_plural = "repositories"

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors = {}
        if self.storage_id and self.team_id and self.storage.team_id != self.team_id:
            errors["storage"] = "Choose a storage of the same team."
        if self.encryption_secret_id and self.team_id and self.encryption_secret.team_id != self.team_id:
            errors["encryption_secret"] = "Choose a secret of the same team."
        if errors:
            raise ValidationError(errors)

    def password(self) -> str:
        data = self.encryption_secret.get_data()
        password = data.get("RESTIC_PASSWORD") or data.get("password")
        if not password:
            raise ValidationError(
                f"secret '{self.encryption_secret.name}' has no RESTIC_PASSWORD (or password) key: add the repository password to it"
            )
        return password

    def display_name(self) -> str:
        return f"{self.team.slug}/{self.name}"

    def is_ready(self) -> bool:
        return self.phase == self.Phase.READY

    def is_initializing(self) -> bool:
        """NotReady and still on its way: its own init has not answered, or it waits for a
        storage that is initializing or just became Ready (storage.jobs.init_storage then
        enqueues this repository's init). A storage that failed leaves it waiting for good."""
        if self.phase != self.Phase.NOT_READY:
            return False
        if not self.status_message:
            return True
        storage_failed = self.storage.phase == self.storage.Phase.NOT_READY and bool(self.storage.status_message)
        return self.status_message.startswith("waiting for storage") and not storage_failed
