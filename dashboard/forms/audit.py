"""The audit log's filters: who, what, which kind of resource, when."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone

from audit.models import Action, Entry
from dashboard.forms.base import field_as
from tenancy.models import Team

NO_TEAM = "-"  # superusers: entries of no team (sign-ins, purges)


class AuditFilterForm(forms.Form):
    team = forms.ChoiceField(required=False, label="Team")
    actor = forms.CharField(required=False, label="Who", max_length=200,
                            widget=forms.TextInput(attrs={"placeholder": "username or command"}))
    action = forms.ChoiceField(required=False, label="Action", choices=[("", "All")] + list(Action.choices))
    kind = forms.ChoiceField(required=False, label="Resource kind")
    since = forms.DateField(required=False, label="From", widget=forms.DateInput(attrs={"type": "date"}),
                            error_messages={"invalid": "Enter a date as YYYY-MM-DD."})
    until = forms.DateField(required=False, label="To", widget=forms.DateInput(attrs={"type": "date"}),
                            error_messages={"invalid": "Enter a date as YYYY-MM-DD."})

    def __init__(self, data: Any, *, entries: QuerySet[Entry], superuser: bool) -> None:
        super().__init__(data)
        kinds = sorted(k for k in entries.order_by().values_list("target_kind", flat=True).distinct() if k)
        field_as(self, "kind", forms.ChoiceField).choices = [("", "All")] + [(k, k) for k in kinds]
        if superuser:
            field_as(self, "team", forms.ChoiceField).choices = (
                [("", "All teams"), (NO_TEAM, "No team (sign-ins)")] + [(t.slug, t.name) for t in Team.objects.order_by("name")])
        else:
            del self.fields["team"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until and until < since:
            self.add_error("until", f"'To' ({until}) is before 'From' ({since}): swap them or clear one.")
        return data

    def filter(self, entries: QuerySet[Entry]) -> QuerySet[Entry]:
        """The entries that match the valid filters (an invalid one is left out, and says why)."""
        data = self.cleaned_data if self.is_bound else {}
        team = data.get("team")
        if team == NO_TEAM:
            entries = entries.filter(team__isnull=True)
        elif team:
            entries = entries.filter(team_label=team)
        if data.get("actor"):
            entries = entries.filter(actor__icontains=data["actor"])
        if data.get("action"):
            entries = entries.filter(action=data["action"])
        if data.get("kind"):
            entries = entries.filter(target_kind=data["kind"])
        if data.get("since"):
            entries = entries.filter(time__gte=_start_of(data["since"]))
        if data.get("until"):
            entries = entries.filter(time__lt=_start_of(data["until"]) + timedelta(days=1))
        return entries

    def query(self) -> dict[str, str]:
        """The filters as query parameters (for the pages' and the export's links)."""
        return {k: str(v) for k, v in (self.data.items() if self.is_bound else []) if k in self.fields and v}


def _start_of(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))
