"""The blueprint form: a selector in `kubectl -l` syntax, the configuration's name and
its template as YAML (a BackupConfiguration's spec without the target)."""
from __future__ import annotations

from typing import Any

import yaml
from django import forms
from django.core.exceptions import ValidationError

from backups.blueprints import variable_help
from backups.labels import format_selector, parse_selector
from backups.models import BackupBlueprint
from dashboard.forms.base import TeamModelForm
from storage.models import BackupStorage, RetentionPolicy, Secret
from tenancy.models import Team


def example_template(team: Team) -> str:
    """A first template that names the team's own storage, secret and retention policy."""
    storage = BackupStorage.objects.filter(team=team).order_by("-default", "name").first()
    secret = Secret.objects.filter(team=team).order_by("name").first()
    retention = RetentionPolicy.objects.filter(team=team).order_by("-default", "name").first()
    backend: dict[str, Any] = {"name": "main", "storageRef": {"name": storage.name if storage else "STORAGE"}}
    if retention is not None:
        backend["retentionPolicy"] = {"name": retention.name}
    template = {
        "backends": [backend],
        "sessions": [{
            "name": "full",
            "scheduler": {"schedule": "0 2 * * *"},
            "repositories": [{"name": "${CLUSTER_NAME}-full", "backend": "main", "directory": "/es/${TEAM}/${CLUSTER_NAME}",
                              "encryptionSecret": {"name": secret.name if secret else "SECRET"}}],
            "addon": {"name": "elasticsearch-addon", "tasks": [{"name": "logical-backup", "params": {"indices": "*"}}]},
        }],
    }
    return yaml.safe_dump(template, sort_keys=False)


class BlueprintForm(TeamModelForm):
    selector = forms.CharField(
        label="Clusters with labels", widget=forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"}),
        help_text="As kubectl -l: env=prod, tier in (gold,silver), tier notin (test), backup (it exists), !legacy "
                  "(it does not). Every term must hold.")
    template = forms.CharField(
        label="Configuration template (YAML)", widget=forms.Textarea(attrs={"rows": 18, "spellcheck": "false", "class": "mono"}),
        help_text="A BackupConfiguration's spec without the target: backends, sessions (scheduler, repositories, "
                  f"retentionPolicy via the backend, addon task params, hooks), timeZone, paused. Variables: {variable_help()}.")

    class Meta:
        model = BackupBlueprint
        fields = ["name", "selector", "configuration_name", "template"]
        labels = {"configuration_name": "Configuration name"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["configuration_name"].help_text = f"Each matching cluster's configuration; variables: {variable_help()}."
        if self.instance.pk:
            self.initial["selector"] = format_selector(self.instance.selector or {})
            self.initial["template"] = yaml.safe_dump(self.instance.template, sort_keys=False)
        else:
            self.initial["template"] = example_template(self.team)

    def clean_selector(self) -> dict[str, Any]:
        return parse_selector(self.cleaned_data.get("selector") or "")

    def clean_template(self) -> Any:
        text = self.cleaned_data.get("template") or ""
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as e:
            mark = getattr(e, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise ValidationError(f"Not valid YAML{where}: {getattr(e, 'problem', None) or e}.") from None
        if not isinstance(value, dict):
            raise ValidationError("Write the template as a YAML mapping with backends and sessions.")
        return value
