"""Forms for the team's resources: secrets, storages, retention policies, clusters, repositories."""
from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from audit.log import secret_key_fields
from backups.labels import format_labels, parse_labels
from backups.models import Cluster
from dashboard.forms.base import TeamModelForm, field_as, offer_inline
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from storage.validators import normalize_directory


def parse_pairs(text: str) -> dict[str, str]:
    """'KEY=value' lines → dict; the error says which line is wrong."""
    data: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if "=" not in line:
            raise ValidationError(f"Line {n} has no '=': write one KEY=value per line.")
        key, value = line.split("=", 1)
        key = key.strip()
        if not re.match(r"^[-._a-zA-Z0-9]+$", key):
            raise ValidationError(f"Line {n}: '{key}' is not a valid key: use letters, digits, '-', '_' and '.'.")
        data[key] = value.strip()
    return data


class SecretForm(TeamModelForm):
    values = forms.CharField(
        label="Values", required=False, widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text="One KEY=value per line. Values are encrypted and never shown again; keys you leave out keep their value.",
    )
    remove = forms.MultipleChoiceField(label="Remove keys", required=False, widget=forms.CheckboxSelectMultiple)

    class Meta:
        model = Secret
        fields = ["name", "description"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        keys = self.instance.key_names if self.instance.pk else []
        if keys:
            field_as(self, "remove", forms.MultipleChoiceField).choices = [(k, k) for k in keys]
        else:
            del self.fields["remove"]
            self.fields["values"].required = True
            self.fields["values"].help_text = "One KEY=value per line, e.g. RESTIC_PASSWORD=… Values are encrypted and never shown again."

    def clean_values(self) -> dict[str, str]:
        return parse_pairs(self.cleaned_data.get("values") or "")

    def clean(self) -> dict[str, Any]:
        super().clean()
        data = self.cleaned_data
        if not self.instance.pk and not data.get("values") and "values" not in self.errors:
            self.add_error("values", "Give at least one KEY=value.")
        return data

    def audit_fields(self) -> list[str]:
        """What changed, for the audit log: key names, never their values."""
        plain = [n for n in self.changed_data if n not in ("values", "remove")]
        return plain + secret_key_fields(self.cleaned_data.get("values") or {}, self.cleaned_data.get("remove") or [])

    def save(self, commit: bool = True) -> Secret:
        secret = super().save(commit=False)
        secret.update_data(self.cleaned_data.get("values") or {}, remove=self.cleaned_data.get("remove") or [])
        if commit:
            secret.save()
        return secret


class StorageForm(TeamModelForm):
    class Meta:
        model = BackupStorage
        fields = ["name", "provider", "bucket", "prefix", "endpoint", "region", "path_style", "storage_account",
                  "mount_path", "secret", "default", "deletion_policy", "ca_bundle", "insecure_tls"]
        widgets = {"ca_bundle": forms.Textarea(attrs={"rows": 3})}
        labels = {"ca_bundle": "CA bundle", "insecure_tls": "Skip TLS verification", "secret": "Credentials secret"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_inline(self, secret="secret")


class RetentionForm(TeamModelForm):
    class Meta:
        model = RetentionPolicy
        fields = ["name", "max_retention_period", "keep_last", "keep_hourly", "keep_daily", "keep_weekly",
                  "keep_monthly", "keep_yearly", "failed_keep_last", "default"]


class ClusterForm(TeamModelForm):
    labels = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "spellcheck": "false", "autocomplete": "off"}),
        help_text="One key=value per line, e.g. env=prod, as Kubernetes labels; backup blueprints select clusters by them.")

    class Meta:
        model = Cluster
        fields = ["name", "urls", "labels", "auth", "auth_secret", "ca_bundle", "verify_tls", "timeout"]
        widgets = {"urls": forms.Textarea(attrs={"rows": 2}), "ca_bundle": forms.Textarea(attrs={"rows": 3})}
        labels = {"urls": "URLs", "ca_bundle": "CA bundle", "verify_tls": "Verify TLS certificates", "timeout": "Timeout (seconds)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_inline(self, auth_secret="secret")
        if self.instance.pk:
            self.initial["labels"] = format_labels(self.instance.labels)

    def clean_labels(self) -> dict[str, str]:
        return parse_labels(self.cleaned_data.get("labels") or "")


class RepositoryForm(TeamModelForm):
    class Meta:
        model = Repository
        fields = ["name", "storage", "directory", "encryption_secret", "deletion_policy"]
        help_texts = {"directory": "Path inside the storage, e.g. es/nightly (a leading '/', as KubeStash writes it, is fine)."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_inline(self, storage="storage", encryption_secret="secret")

    def clean_directory(self) -> str:
        return normalize_directory(self.cleaned_data["directory"])  # as `manage.py apply` reads it
