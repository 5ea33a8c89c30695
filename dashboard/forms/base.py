from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.db import models

from tenancy.models import Team

F = TypeVar("F", bound=forms.Field)


def field_as(form: forms.BaseForm, name: str, kind: type[F]) -> F:
    """form.fields[name] as the field class the form declares it with: django-stubs types
    form.fields as dict[str, Field], so setting a queryset or choices needs the narrower class."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"field {name!r} of {type(form).__name__} is a {type(field).__name__}, not a {kind.__name__}")
    return field


def https_formfield(field: models.Field, **kwargs: Any) -> forms.Field | None:
    """Model fields → form fields, with URLs typed without a scheme read as https://
    (Django 6's default, chosen now rather than warned about)."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


class TeamModelForm(forms.ModelForm):
    """A ModelForm for a team-owned model: the instance gets the active team before
    validation (so model.clean() can check same-team references), and every foreign
    key choice is limited to that team."""

    formfield_callback = https_formfield

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
