"""A repository's keys (issue 16.4): its owners list, add and remove passwords and change
the one its Secret holds. Opening a repository runs its password KDF and reads the storage,
so the repository page loads this section on its own (hx-trigger="load")."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

import audit
from audit.models import Action
from dashboard.views.access import DashboardRequest, get_for_user, require_owner
from storage import flows
from storage.models import Repository


class NewPasswordForm(forms.Form):
    new_password = forms.CharField(widget=forms.PasswordInput, strip=False, min_length=8,
                                   help_text="At least 8 characters. It is not shown again: keep it somewhere safe.")
    confirm = forms.CharField(label="Type it again", widget=forms.PasswordInput, strip=False)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("new_password") and data.get("confirm") and data["new_password"] != data["confirm"]:
            self.add_error("confirm", "The two passwords differ: type the same password twice.")
        return data


def _get_owned_repository(request: DashboardRequest, uuid: str) -> Repository:
    repo = get_for_user(request, Repository.objects.select_related("storage", "encryption_secret", "team"), uuid)
    require_owner(request)
    return repo


def _render(request: DashboardRequest, repo: Repository, *, add: NewPasswordForm | None = None,
            passwd: NewPasswordForm | None = None, status: int = 200) -> HttpResponse:
    from storage.repo import keys

    ctx: dict[str, Any] = {"title": f"{repo.name}: keys", "repository": repo,
                           "add_form": add or NewPasswordForm(prefix="add"),
                           "passwd_form": passwd or NewPasswordForm(prefix="passwd")}
    try:
        ctx["keys"] = keys.list_keys(flows.open_repository(repo))
    except Exception as e:  # the section says why it cannot list (not Ready, wrong password, storage down)
        ctx["keys_error"] = "; ".join(getattr(e, "messages", [])) or str(e)
    template = "repositories/keys.html#keys" if request.htmx else "repositories/keys.html"
    return render(request, template, ctx, status=status)


@login_required
def repository_keys(request: DashboardRequest, uuid: str) -> HttpResponse:
    return _render(request, _get_owned_repository(request, uuid))


def _done(request: DashboardRequest, repo: Repository, text: str) -> HttpResponse:
    messages.success(request, text)
    if request.htmx:
        return _render(request, repo)
    return redirect("storage:repository-keys", uuid=repo.uuid)


def _failed(request: DashboardRequest, repo: Repository, e: Exception) -> HttpResponse:
    messages.error(request, "; ".join(getattr(e, "messages", [])) or str(e))
    return _render(request, repo, status=400)


def _key_action(request: DashboardRequest, repo: Repository, call: Callable[[], str], action: Action,
                text: Callable[[str], str], *, detail: str, passwd: NewPasswordForm | None = None,
                fields: tuple[str, ...] = ()) -> HttpResponse:
    """One change of the repository's keys by `call`: what it refuses is said (a new password
    it refuses, under the `passwd` form's field), what it does is audited as `action` with
    `{detail: result}` and said by `text(result)`."""
    from storage.backends import BackendError
    from storage.repo import RepositoryError

    try:
        result = call()
    except ValidationError as e:
        if passwd is None:
            return _failed(request, repo, e)
        passwd.add_error("new_password", e.message_dict.get("new_password", e.messages))
        return _render(request, repo, passwd=passwd, status=400)
    except (BackendError, RepositoryError) as e:
        return _failed(request, repo, e)
    audit.record(request, repo.team, action, repo, fields=fields, details={detail: result})
    return _done(request, repo, text(result))


@login_required
@require_POST
def repository_key_add(request: DashboardRequest, uuid: str) -> HttpResponse:
    from storage.repo import keys

    repo = _get_owned_repository(request, uuid)
    form = NewPasswordForm(request.POST, prefix="add")
    if not form.is_valid():
        return _render(request, repo, add=form, status=400)
    return _key_action(request, repo, lambda: keys.add_key(flows.open_repository(repo), form.cleaned_data["new_password"]),
                       Action.KEY_ADDED, lambda key: f"Added key {key[:8]}: its password opens {repo.name} too.",
                       detail="key")


@login_required
@require_POST
def repository_key_remove(request: DashboardRequest, uuid: str) -> HttpResponse:
    from storage.repo import keys

    repo = _get_owned_repository(request, uuid)
    return _key_action(request, repo, lambda: keys.remove_key(flows.open_repository(repo), request.POST.get("key_id", "")),
                       Action.KEY_REMOVED, lambda key: f"Removed key {key[:8]}: its password no longer opens {repo.name}.",
                       detail="key")


@login_required
@require_POST
def repository_passwd(request: DashboardRequest, uuid: str) -> HttpResponse:
    repo = _get_owned_repository(request, uuid)
    form = NewPasswordForm(request.POST, prefix="passwd")
    if not form.is_valid():
        return _render(request, repo, passwd=form, status=400)

    def change() -> str:
        flows.change_repository_password(repo, form.cleaned_data["new_password"])
        return repo.encryption_secret.name

    return _key_action(request, repo, change, Action.PASSWORD_CHANGED,
                       lambda secret: f"Changed the password of {repo.name}; secret '{secret}' holds the new one.",
                       detail="encryption_secret", passwd=form, fields=("encryptionSecret",))
