from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from dashboard import deletion
from dashboard.forms.resources import SecretForm
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)
from storage.models import Secret


def _get_secret_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> Secret:
    return get_for_user(request, Secret, uuid, write=write)


@login_required
def secret_list(request: DashboardRequest) -> HttpResponse:
    secrets = team_qs(request, Secret).order_by("name")
    return render(request, "secrets/list.html", {"title": "Secrets", "secrets": secrets})


@login_required
def secret_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    return editing.edit(request, SecretForm, instance=None, title="New secret", back_url=reverse("storage:secret-list"),
                        back_label="Secrets", success=lambda o: reverse("storage:secret-list"), saved="Secret '{obj}' saved.")


@login_required
def secret_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    secret = _get_secret_for_user(request, uuid, write=True)
    return editing.edit(request, SecretForm, instance=secret, title=f"Edit secret {secret.name}",
                        back_url=reverse("storage:secret-list"), back_label="Secrets",
                        success=lambda o: reverse("storage:secret-list"), saved="Secret '{obj}' saved.")


@login_required
def secret_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    secret = _get_secret_for_user(request, uuid, write=True)
    return editing.delete(request, secret, title=f"Delete secret {secret.name}", back_url=reverse("storage:secret-list"),
                          success_url=reverse("storage:secret-list"),
                          losses=[f"The values of {', '.join(secret.key_names) or 'no keys'} (they cannot be shown, so keep a copy)."],
                          blockers=deletion.blockers(secret))
