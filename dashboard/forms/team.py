from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import get_user_model, password_validation
from django.utils.text import slugify

from dashboard.forms.base import https_formfield, together
from tenancy.models import Membership, Team, slug_validator


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
    username = forms.CharField(label="Username or e-mail", max_length=254)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)

    def __init__(self, *args: Any, team: Team, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.team = team

    def clean_username(self) -> Any:
        name = self.cleaned_data["username"].strip()
        users = get_user_model().objects.filter(is_active=True)
        user = users.filter(username=name).first() or (users.filter(email__iexact=name).first() if "@" in name else None)
        if user is None:
            raise forms.ValidationError(f"No user '{name}': check the spelling, or create the account below.")
        if Membership.objects.filter(team=self.team, user=user).exists():
            raise forms.ValidationError(f"'{name}' is already in {self.team.name}: change their role in the list instead.")
        return user


class NewUserForm(forms.Form):
    """A new account that joins the team: with a password the owner passes on, or with an
    invitation link where the person chooses their own."""

    INVITE, PASSWORD = "invite", "password"

    username = forms.CharField(label="Username", max_length=150,
                               validators=[get_user_model().username_validator])
    email = forms.EmailField(label="E-mail", required=False)
    role = forms.ChoiceField(choices=Membership.Role.choices, initial=Membership.Role.VIEWER)
    access = forms.ChoiceField(label="How they sign in", widget=forms.RadioSelect, initial=INVITE, choices=[
        (INVITE, "An invitation link: they choose their password (valid 3 days)"),
        (PASSWORD, "An initial password that I give them"),
    ])
    password = forms.CharField(label="Initial password", required=False, strip=False,
                               widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
                               help_text="At least 8 characters, not a common one.")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        together(self, "required with an initial password", "password")

    def clean_username(self) -> str:
        name = self.cleaned_data["username"].strip()
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise forms.ValidationError(f"There is already a user '{name}': add them above instead, or choose another username.")
        return name

    def clean(self) -> dict[str, Any]:
        d = super().clean() or {}
        if d.get("access") == self.PASSWORD:
            password = d.get("password") or ""
            if not password:
                self.add_error("password", "Give the initial password, or choose an invitation link.")
            else:
                try:
                    password_validation.validate_password(password, get_user_model()(username=d.get("username", "")))
                except forms.ValidationError as e:
                    self.add_error("password", e)
        elif d.get("password"):
            self.add_error("password", "An invitation link needs no password: clear it, or choose an initial password.")
        return d


class NewTeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "slug"]
        help_texts = {"slug": "Made from the name; you can change it. The team's namespace in YAML and Kubernetes."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False  # blank: made from the name
        together(self, "made from the name if left empty", "slug")

    def clean_slug(self) -> str:
        slug = (self.cleaned_data.get("slug") or "").strip() or slugify(self.data.get(self.add_prefix("name"), ""))[:63].strip("-")
        if not slug:
            raise forms.ValidationError("Give a slug: lowercase letters, digits and '-', e.g. search-team.")
        slug_validator(slug)
        if Team.objects.filter(slug=slug).exists():
            raise forms.ValidationError(f"A team with the slug '{slug}' exists: choose another.")
        return slug


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Membership.Role.choices)
