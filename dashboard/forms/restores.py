from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from backups.addons import elasticsearch as addon
from backups.models import Cluster, Snapshot
from backups.validators import validate_index_patterns
from dashboard.forms.base import field_as
from dashboard.templatetags.stash import format_num
from restores import rules
from restores.models import RestoreSession
from storage.models import Repository
from tenancy.models import Team, slug_validator


class RestoreWizardForm(forms.Form):
    repository = forms.ModelChoiceField(Repository.objects.none(), empty_label="Choose a repository…")
    snapshot = forms.ChoiceField(choices=[("latest", "Latest successful snapshot")], initial="latest")
    indices = forms.CharField(initial="*", help_text="Index patterns to restore, comma separated, e.g. logs-*, users.")
    exclude = forms.CharField(required=False, help_text="Patterns to leave out, e.g. .*, tmp-*.")
    rename_pattern = forms.CharField(required=False, label="Rename: pattern",
                                     help_text="A regular expression on index and alias names, e.g. ^(.*)$.")
    rename_replacement = forms.CharField(required=False, label="Rename: replacement", help_text=r"e.g. restored-\1.")
    target = forms.ModelChoiceField(Cluster.objects.none(), label="Target cluster", empty_label="Choose a cluster…")
    conflict = forms.ChoiceField(choices=[(c, c.capitalize()) for c in rules.CONFLICT_POLICIES], initial="fail",
                                 widget=forms.RadioSelect, label="When an index already exists")
    name = forms.CharField(max_length=63, validators=[slug_validator], required=False, label="Restore name",
                           help_text="Leave empty for a generated name.")
    confirm_overwrite = forms.BooleanField(required=False, label="I understand that existing indices will be deleted and replaced")

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        self.repositories = Repository.objects.filter(team=team).select_related("storage").order_by("name")
        field_as(self, "repository", forms.ModelChoiceField).queryset = self.repositories
        field_as(self, "target", forms.ModelChoiceField).queryset = Cluster.objects.filter(team=team).order_by("name")
        field_as(self, "conflict", forms.ChoiceField).choices = \
            [(c, f"{c.capitalize()}: {rules.CONFLICT_HELP[c]}") for c in rules.CONFLICT_POLICIES]
        repo = self._repository()
        if repo is not None:
            snaps = Snapshot.objects.filter(repository=repo, phase=Snapshot.Phase.SUCCEEDED).exclude(snapshot_id="").order_by("-created")[:50]
            field_as(self, "snapshot", forms.ChoiceField).choices = [("latest", "Latest successful snapshot")] + [
                (s.snapshot_id, f"{s.snapshot_id[:8]} · {timezone.localtime(s.snapshot_time or s.created):%Y-%m-%d %H:%M %Z} · {format_num(s.total_docs)} docs")
                for s in snaps]

    def _repository(self) -> Repository | None:
        value = self.data.get("repository") if self.is_bound else self.initial.get("repository")
        if not value:
            return None
        try:
            return self.repositories.filter(pk=value).first() or self.repositories.filter(uuid=value).first()
        except (ValueError, ValidationError):
            return None

    def clean_indices(self) -> str:
        value = self.cleaned_data["indices"]
        validate_index_patterns(value)
        return value

    def clean(self) -> dict[str, Any]:
        super().clean()
        d = self.cleaned_data
        for name, message in rules.rename_errors(d.get("rename_pattern") or "", d.get("rename_replacement") or "").items():
            self.add_error(name, message)
        try:
            addon.validate_restore_params(self.task_params())
        except ValidationError as e:
            self.add_error(None, e)
        return d

    def task_params(self) -> dict[str, Any]:
        d = self.cleaned_data
        params = {"indices": d.get("indices") or "*", "exclude": d.get("exclude") or "",
                  "rename_pattern": d.get("rename_pattern") or "", "rename_replacement": d.get("rename_replacement") or "",
                  "conflict": d.get("conflict") or "fail"}
        return {k: v for k, v in params.items() if v != addon.RESTORE_PARAMS[k][0]}

    def require_confirmation(self) -> bool:
        if self.cleaned_data.get("conflict") == "overwrite" and not self.cleaned_data.get("confirm_overwrite"):
            self.add_error("confirm_overwrite", "Tick this to confirm: overwrite deletes the existing indices named in the review.")
            return False
        return True

    def build(self, user: Any) -> RestoreSession:
        d = self.cleaned_data
        name = d.get("name") or f"{d['repository'].name}-{timezone.now():%Y%m%d%H%M%S}"[:63].strip("-")
        restore = RestoreSession(team=self.team, name=name, target=d["target"], repository=d["repository"],
                                 snapshot=d.get("snapshot") or "latest", task_params=self.task_params(),
                                 created_by=getattr(user, "username", ""))
        restore.full_clean()
        return restore


def preview_indices(team: Team, repository: Repository | None, snapshot: str, include: str, exclude: str,
                    pattern: str, replacement: str) -> dict[str, Any]:
    """The snapshot's indices chosen by the patterns and their names after the rename, as
    the load chooses and names them (restores.rules), from the Snapshot row's per-index
    results, so the preview needs no storage round trip."""
    if repository is None:
        return {"rows": [], "error": "", "snapshot": None}
    snaps = Snapshot.objects.filter(repository=repository, phase=Snapshot.Phase.SUCCEEDED).exclude(snapshot_id="")
    snap = (snaps.filter(snapshot_id=snapshot) if snapshot and snapshot != "latest" else snaps).order_by("-created").first()
    if snap is None:
        return {"rows": [], "error": f"{repository.name} has no successful snapshot yet.", "snapshot": None}
    try:
        rename = rules.Renamer(pattern, replacement)
    except ValueError as e:
        return {"rows": [], "error": str(e), "snapshot": snap}
    chosen = rules.choose(rules.facts_from_dump((snap.components or {}).get("dump") or {}), rules.patterns(include), rules.patterns(exclude),
                          rename)
    rows = [{"source": c.source, "target": c.target, "data_stream": c.data_stream, "writes_to": c.writes_to,
             "docs": c.docs, "bytes": c.bytes}
            for c in chosen]
    error = rules.collision(chosen)
    if error:
        error = error[0].upper() + error[1:] + "."
    elif not rows:
        error = "No index of this snapshot matches these patterns."
    return {"rows": rows, "error": error, "snapshot": snap}
