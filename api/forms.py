from __future__ import annotations

from django import forms

from api.models import ApiToken


class ApiTokenForm(forms.ModelForm):
    class Meta:
        model = ApiToken
        fields = ["name", "scope"]
        labels = {"name": "Token name", "scope": "Access"}
        help_texts = {"scope": "Read-only tokens can list and look; read-write tokens can also create, change, "
                               "delete, back up and restore."}
