from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from audit.log import secret_key_fields
from storage import flows
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from tenancy.admin import TeamScopedAdmin


def parse_secret_lines(text: str) -> dict[str, str]:
    """'KEY=value' lines → dict; the message never repeats a value."""
    data: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise forms.ValidationError(f"Line {number} is not KEY=value: write one key and its value per line.")
        data[key.strip()] = value.rstrip("\r")
    return data


class SecretForm(forms.ModelForm):
    values = forms.CharField(
        label="Values",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4, "autocomplete": "off", "spellcheck": "false"}),
        help_text="KEY=value, one per line. Values are write-only: they are never shown again. "
        "Keys you list replace the stored ones; keys you leave out stay as they are.",
    )
    remove_keys = forms.CharField(required=False, help_text="Keys to remove, comma separated.")

    class Meta:
        model = Secret
        fields = ["team", "name", "description"]

    def clean_values(self) -> dict[str, str]:
        return parse_secret_lines(self.cleaned_data.get("values", ""))

    def _removed(self) -> list[str]:
        return [k.strip() for k in self.cleaned_data.get("remove_keys", "").split(",") if k.strip()]

    def audit_fields(self) -> list[str]:
        """What changed, for the audit log: key names, never their values."""
        plain = [n for n in self.changed_data if n not in ("values", "remove_keys")]
        return plain + secret_key_fields(self.cleaned_data.get("values") or {}, self._removed())

    def save(self, commit: bool = True) -> Secret:
        secret: Secret = super().save(commit=False)
        remove = self._removed()
        secret.update_data(self.cleaned_data["values"], remove=remove)
        if commit:
            secret.save()
        return secret


@admin.register(Secret)
class SecretAdmin(TeamScopedAdmin):
    form = SecretForm
    list_display = ["name", "team", "keys", "updated"]
    list_filter = ["team"]
    search_fields = ["name", "description"]
    readonly_fields = ["uuid", "keys", "created", "updated"]

    @admin.display(description="keys set")
    def keys(self, obj: Secret) -> str:
        return ", ".join(obj.key_names) or "(none)"


@admin.register(BackupStorage)
class BackupStorageAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "provider", "location", "phase", "size", "default"]
    list_filter = ["phase", "provider", "team"]
    search_fields = ["name", "bucket", "prefix", "endpoint"]
    readonly_fields = ["uuid", "phase", "status_message", "total_size", "last_initialized", "created"]

    @admin.display(description="size", ordering="total_size")
    def size(self, obj: BackupStorage) -> str:
        return filesizeformat(obj.total_size)

    def save_model(self, request: Any, obj: BackupStorage, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        flows.initialize_storage(obj)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("secret")


@admin.register(RetentionPolicy)
class RetentionPolicyAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "summary", "default"]
    list_filter = ["team"]
    search_fields = ["name"]
    readonly_fields = ["uuid", "created"]


@admin.register(Repository)
class RepositoryAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "storage", "directory", "phase", "snapshot_count", "size", "last_backup", "integrity"]
    list_filter = ["phase", "integrity", "team", "storage"]
    search_fields = ["name", "directory"]
    readonly_fields = [
        "uuid", "phase", "status_message", "repository_id", "size_bytes", "snapshot_count", "last_backup",
        "integrity", "last_check", "last_check_result", "last_prune", "created",
    ]

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj: Repository) -> str:
        return filesizeformat(obj.size_bytes)

    def save_model(self, request: Any, obj: Repository, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        flows.initialize_repository(obj)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("storage")
