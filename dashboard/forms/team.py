from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model

from dashboard.forms.base import https_formfield
from tenancy.models import Membership, Team


class TeamSettingsForm(forms.ModelForm):
    formfield_callback = https_formfield

    class Meta:
        model = Team
        fields = ["name", "webhook_url", "notify_emails", "stale_after_hours"]
        labels = {"webhook_url": "Webhook URL", "notify_emails": "E-mail addresses", "stale_after_hours": "Stale after (hours)"}

    def clean_notify_emails(self) -> str:
        value = self.cleaned_data["notify_emails"]
        bad = []
        validator = forms.EmailField()
        for line in value.splitlines():
            if line.strip():
                try:
                    validator.clean(line.strip())
                except forms.ValidationError:
                    bad.append(line.strip())
        if bad:
            raise forms.ValidationError(f"Not an e-mail address: {', '.join(bad)}. Write one address per line.")
        return "\n".join(line.strip() for line in value.splitlines() if line.strip())


class AddMemberForm(forms.Form):
    username = forms.CharField(label="Username", max_length=150)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_username(self) -> Any:
        name = self.cleaned_data["username"].strip()
        user = get_user_model().objects.filter(username=name).first()
        if user is None:
            raise forms.ValidationError(f"No user '{name}': check the spelling, or ask an administrator to create the account.")
        if Membership.objects.filter(team=self.team, user=user).exists():
            raise forms.ValidationError(f"'{name}' is already in {self.team.name}: change their role in the list instead.")
        return user


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
