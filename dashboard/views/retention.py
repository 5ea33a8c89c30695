from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

from backups.models import BackupSessionConfig
from dashboard.forms.resources import RetentionForm
from dashboard.views import editing
from dashboard.views.access import get_for_user, require_write, team_qs
from storage.models import RetentionPolicy


def _get_retention_for_user(request: HttpRequest, uuid: str, write: bool = False) -> RetentionPolicy:
    return get_for_user(request, RetentionPolicy, uuid, write=write)


@login_required
def retention_list(request: HttpRequest) -> HttpResponse:
    return render(request, "retention/list.html", {"title": "Retention policies", "policies": team_qs(request, RetentionPolicy).order_by("name")})


@login_required
def retention_new(request: HttpRequest) -> HttpResponse:
    require_write(request)
    back = reverse("dashboard:retention-list")
    return editing.edit(request, RetentionForm, instance=None, title="New retention policy", back_url=back,
                        back_label="Retention policies", success=lambda o: back, saved="Retention policy '{obj}' saved.")


@login_required
def retention_edit(request: HttpRequest, uuid: str) -> HttpResponse:
    policy = _get_retention_for_user(request, uuid, write=True)
    back = reverse("dashboard:retention-list")
    return editing.edit(request, RetentionForm, instance=policy, title=f"Edit retention policy {policy.name}", back_url=back,
                        back_label="Retention policies", success=lambda o: back, saved="Retention policy '{obj}' saved.")


@login_required
def retention_delete(request: HttpRequest, uuid: str) -> HttpResponse:
    policy = _get_retention_for_user(request, uuid, write=True)
    used = BackupSessionConfig.objects.filter(retention_policy=policy).select_related("configuration")
    back = reverse("dashboard:retention-list")
    return editing.delete(request, policy, title=f"Delete {policy.name}", back_url=back, success_url=back, losses=[],
                          blockers=[f"Configuration {s} uses it: choose another policy there first." for s in used])
