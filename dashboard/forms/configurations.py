from __future__ import annotations

import json
from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from backups.addons import elasticsearch as addon
from backups.models import BackupConfiguration, BackupSessionConfig
from dashboard.forms.base import TeamModelForm, field_as, offer_inline, together
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from storage.validators import normalize_directory, validate_prefix
from tenancy.models import Team, slug_validator


class ConfigurationForm(TeamModelForm):
    class Meta:
        model = BackupConfiguration
        fields = ["name", "target", "timezone", "paused"]
        labels = {"target": "Cluster to back up"}
        help_texts = {"timezone": "Schedules run in this time zone, e.g. UTC or Europe/Berlin."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        offer_inline(self, target="cluster")


class SessionConfigForm(forms.ModelForm):
    """One session of a configuration: schedule, repositories, retention, task parameters, hooks.

    A new repository can be made on the spot (storage + directory + encryption secret),
    so a first configuration takes one form."""

    indices = forms.CharField(initial="*", help_text=addon.BACKUP_PARAMS["indices"][2])
    exclude = forms.CharField(required=False, help_text=addon.BACKUP_PARAMS["exclude"][2])
    include_hidden = forms.BooleanField(required=False, help_text=addon.BACKUP_PARAMS["include_hidden"][2])
    metadata = forms.MultipleChoiceField(choices=[(k, k.replace("_", " ")) for k in addon.METADATA_KINDS],
                                         initial=list(addon.METADATA_KINDS), required=False,
                                         widget=forms.CheckboxSelectMultiple, help_text="Metadata kinds to back up.")
    slices = forms.IntegerField(min_value=1, initial=4, help_text=addon.BACKUP_PARAMS["slices"][2])
    parallel_indices = forms.IntegerField(min_value=1, initial=addon.BACKUP_PARAMS["parallel_indices"][0],
                                          required=False, help_text=addon.BACKUP_PARAMS["parallel_indices"][2])
    batch_size = forms.IntegerField(min_value=1, initial=5000, help_text=addon.BACKUP_PARAMS["batch_size"][2])
    page_bytes = forms.IntegerField(min_value=1, initial=addon.BACKUP_PARAMS["page_bytes"][0], required=False,
                                    help_text=addon.BACKUP_PARAMS["page_bytes"][2])
    max_docs_per_second = forms.IntegerField(min_value=0, initial=0, label="Max docs per second",
                                             help_text=addon.BACKUP_PARAMS["max_docs_per_second"][2])
    skip_unchanged = forms.BooleanField(required=False, initial=True, help_text=addon.BACKUP_PARAMS["skip_unchanged"][2])
    hooks_json = forms.CharField(
        label="Hooks", required=False, widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text='JSON, e.g. {"preBackup": [{"name": "flush", "kind": "elasticsearch", "method": "POST", "path": "_flush"}]}',
    )
    new_repo_name = forms.CharField(label="New repository name", required=False, validators=[slug_validator])
    new_repo_storage = forms.ModelChoiceField(BackupStorage.objects.none(), label="in storage", required=False)
    new_repo_directory = forms.CharField(label="directory", required=False,
                                         help_text="Path inside the storage, e.g. es/nightly; empty: the repository's name.")
    new_repo_secret = forms.ModelChoiceField(Secret.objects.none(), label="encryption secret", required=False,
                                             help_text="A secret with RESTIC_PASSWORD (or password).")

    NEW_REPO_REQUIRED = ("new_repo_name", "new_repo_storage", "new_repo_secret")

    class Meta:
        model = BackupSessionConfig
        fields = ["name", "schedule", "repositories", "retention_policy", "session_history_limit"]
        widgets = {"repositories": forms.CheckboxSelectMultiple,
                   "schedule": forms.TextInput(attrs={"spellcheck": "false", "autocomplete": "off"})}
        labels = {"name": "Session name", "retention_policy": "Retention policy"}
        help_texts = {"schedule": "Cron: minute hour day-of-month month day-of-week, e.g. 0 2 * * * for every day at 02:00."}

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        field_as(self, "repositories", forms.ModelMultipleChoiceField).queryset = \
            Repository.objects.filter(team=team).select_related("storage")
        self.fields["repositories"].required = False
        field_as(self, "retention_policy", forms.ModelChoiceField).queryset = RetentionPolicy.objects.filter(team=team)
        field_as(self, "new_repo_storage", forms.ModelChoiceField).queryset = BackupStorage.objects.filter(team=team)
        field_as(self, "new_repo_secret", forms.ModelChoiceField).queryset = Secret.objects.filter(team=team)
        together(self, "required for a new repository", *self.NEW_REPO_REQUIRED)
        offer_inline(self, new_repo_storage="storage", new_repo_secret="secret")
        if self.instance.pk:
            params = self.instance.params()
            for key in ("indices", "exclude", "include_hidden", "slices", "parallel_indices", "batch_size", "page_bytes",
                        "max_docs_per_second",
                        "skip_unchanged"):
                self.initial[key] = params[key]
            self.initial["metadata"] = [k for k in str(params["metadata"]).split(",") if k]
            self.initial["hooks_json"] = json.dumps(self.instance.hooks, indent=1) if self.instance.hooks else ""

    def new_repository_started(self) -> bool:
        """Something typed into the new-repository fields (the page keeps them open)."""
        names = (*self.NEW_REPO_REQUIRED, "new_repo_directory")
        return any(self[n].value() for n in names) or any(n in self.errors for n in names)

    def clean_new_repo_directory(self) -> str:
        directory = normalize_directory(self.cleaned_data.get("new_repo_directory") or "")  # as `manage.py apply` reads it
        validate_prefix(directory)  # here, so that the error is under this field
        return directory

    def clean_hooks_json(self) -> dict[str, Any]:
        text = (self.cleaned_data.get("hooks_json") or "").strip()
        if not text:
            return {}
        try:
            hooks = json.loads(text)
        except json.JSONDecodeError as e:
            raise ValidationError(f"Not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}.") from None
        addon.validate_backup_hooks(hooks)
        return hooks

    def task_params(self) -> dict[str, Any]:
        d = self.cleaned_data
        values = {"indices": d.get("indices") or "*", "exclude": d.get("exclude") or "", "include_hidden": bool(d.get("include_hidden")),
                  "metadata": ",".join(d.get("metadata") or []), "slices": d.get("slices") or 1,
                  "parallel_indices": d.get("parallel_indices") or addon.BACKUP_PARAMS["parallel_indices"][0],
                  "batch_size": d.get("batch_size") or 1,
                  "page_bytes": d.get("page_bytes") or addon.BACKUP_PARAMS["page_bytes"][0],
                  "max_docs_per_second": d.get("max_docs_per_second") or 0,
                  "skip_unchanged": bool(d.get("skip_unchanged"))}
        return {k: v for k, v in values.items() if v != addon.BACKUP_PARAMS[k][0]}

    def clean(self) -> dict[str, Any]:
        super().clean()
        d = self.cleaned_data
        # Each missing part of a new repository is named under its own field.
        given = {name: d.get(name) for name in self.NEW_REPO_REQUIRED if name not in self.errors}
        started = any(given.values()) or d.get("new_repo_directory") or any(n in self.errors for n in self.NEW_REPO_REQUIRED)
        if started:
            what = {"new_repo_name": "its name", "new_repo_storage": "the storage to keep it in",
                    "new_repo_secret": "the secret holding its password (RESTIC_PASSWORD)"}
            for name, value in given.items():
                if not value:
                    self.add_error(name, f"A new repository needs {what[name]}: choose it here, or clear the other "
                                         "new-repository fields.")
        if d.get("new_repo_name") and Repository.objects.filter(team=self.team, name=d["new_repo_name"]).exists():
            self.add_error("new_repo_name", f"Repository '{d['new_repo_name']}' exists: tick it above instead, or choose another name.")
        if not d.get("repositories") and not d.get("new_repo_name") and "new_repo_name" not in self.errors:
            self.add_error("repositories", "Choose at least one repository, or make a new one below.")
        if not self.errors:
            try:
                addon.validate_backup_params(self.task_params())
            except ValidationError as e:
                self.add_error(None, e)
        return d

    def save_for(self, configuration: BackupConfiguration) -> BackupSessionConfig:
        session = super().save(commit=False)
        session.configuration = configuration
        session.task_params = self.task_params()
        session.hooks = self.cleaned_data.get("hooks_json") or {}
        session.full_clean(exclude=["repositories"])
        session.save()
        repos = list(self.cleaned_data.get("repositories") or [])
        d = self.cleaned_data
        if d.get("new_repo_name"):
            repo = Repository(team=self.team, name=d["new_repo_name"], storage=d["new_repo_storage"],
                              directory=d.get("new_repo_directory") or d["new_repo_name"], encryption_secret=d["new_repo_secret"])
            repo.full_clean()
            repo.save()
            repos.append(repo)
        session.repositories.set(repos)
        return session
