from __future__ import annotations

from typing import Any, TypeVar

from django import forms
from django.db import models
from django.urls import reverse

from tenancy.models import Team

F = TypeVar("F", bound=forms.Field)


def field_as(form: forms.BaseForm, name: str, kind: type[F]) -> F:
    """form.fields[name] as the field class the form declares it with: django-stubs types
    form.fields as dict[str, Field], so setting a queryset or choices needs the narrower class."""
    field = form.fields[name]
    if not isinstance(field, kind):
        raise TypeError(f"field {name!r} of {type(form).__name__} is a {type(field).__name__}, not a {kind.__name__}")
    return field


# The prefix of a form in a "New …" dialog (dashboard.views.editing): its fields' ids never
# clash with the page's form, and it offers no dialog of its own.
INLINE_PREFIX = "inline"

# The "New …" dialog each kind of choice offers: url name, button label.
INLINE_CREATE = {
    "secret": ("storage:secret-new", "New secret…"),
    "storage": ("storage:storage-new", "New storage…"),
    "cluster": ("backups:cluster-new", "New cluster…"),
}


def offer_inline(form: forms.BaseForm, **fields: str) -> None:
    """offer_inline(form, encryption_secret="secret"): a "New secret…" button beside the
    field opens a dialog that creates one and selects it (templates/_field.html)."""
    if form.prefix == INLINE_PREFIX:
        return
    for name, kind in fields.items():
        url_name, label = INLINE_CREATE[kind]
        field = form.fields[name]
        field.inline_url = reverse(url_name)  # type: ignore[attr-defined]  # read by _field.html
        field.inline_label = label  # type: ignore[attr-defined]


def together(form: forms.BaseForm, note: str, *names: str) -> None:
    """Fields that are required only with each other say so beside their label."""
    for name in names:
        form.fields[name].together = note  # type: ignore[attr-defined]  # read by _field.html


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
