from __future__ import annotations

from typing import Any

from django import forms

from dashboard.models import Team


class TeamModelForm(forms.ModelForm):
    """A ModelForm for a team-owned model: the instance gets the active team before
    validation (so model.clean() can check same-team references), and every foreign
    key choice is limited to that team."""

    team_scoped: dict[str, Any] = {}

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team
        if self.instance.team_id is None:
            self.instance.team = team
        for field in self.fields.values():
            # ModelMultipleChoiceField is a ModelChoiceField too: the only fields with a queryset.
            if isinstance(field, forms.ModelChoiceField):
                qs = field.queryset
                if qs is not None and hasattr(qs.model, "team_id"):
                    field.queryset = qs.filter(team=team)
