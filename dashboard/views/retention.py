from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse

from dashboard import deletion
from dashboard.forms.resources import RetentionForm
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)
from storage.models import RetentionPolicy


def _get_retention_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> RetentionPolicy:
    return get_for_user(request, RetentionPolicy, uuid, write=write)


@login_required
def retention_list(request: DashboardRequest) -> HttpResponse:
    return render(request, "retention/list.html", {"title": "Retention policies", "policies": team_qs(request, RetentionPolicy).order_by("name")})


@login_required
def retention_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    back = reverse("storage:retention-list")
    return editing.edit(request, RetentionForm, instance=None, title="New retention policy", back_url=back,
                        back_label="Retention policies", success=lambda o: back, saved="Retention policy '{obj}' saved.")


@login_required
def retention_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    policy = _get_retention_for_user(request, uuid, write=True)
    back = reverse("storage:retention-list")
    return editing.edit(request, RetentionForm, instance=policy, title=f"Edit retention policy {policy.name}", back_url=back,
                        back_label="Retention policies", success=lambda o: back, saved="Retention policy '{obj}' saved.")


@login_required
def retention_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    policy = _get_retention_for_user(request, uuid, write=True)
    back = reverse("storage:retention-list")
    return editing.delete(request, policy, title=f"Delete {policy.name}", back_url=back, success_url=back, losses=[],
                          blockers=deletion.blockers(policy))
