"""Backup blueprints: list, detail (which clusters match, and what each has), the form
with a live preview of the clusters the selector matches, delete; detaching a
configuration from its blueprint."""
from __future__ import annotations

import yaml
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from backups import blueprints
from backups.labels import parse_selector, selector_errors
from backups.models import BackupBlueprint, BackupConfiguration
from dashboard import active_team
from dashboard.forms.blueprints import BlueprintForm
from dashboard.views import editing
from dashboard.views.access import DashboardRequest, get_for_user, require_write, team_qs


def _get_blueprint_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> BackupBlueprint:
    return get_for_user(request, BackupBlueprint.objects.select_related("team"), uuid, write=write)


@login_required
def blueprint_list(request: DashboardRequest) -> HttpResponse:
    rows = team_qs(request, BackupBlueprint).prefetch_related("configurations").order_by("name")
    return render(request, "blueprints/list.html", {"title": "Backup blueprints", "blueprints": rows})


@login_required
def blueprint_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    bp = _get_blueprint_for_user(request, uuid)
    return render(request, "blueprints/detail.html", {"title": bp.name, "blueprint": bp, "rows": blueprints.preview(bp),
                                                      "template_yaml": yaml.safe_dump(bp.template, sort_keys=False)})


def _reconcile(bp: BackupBlueprint) -> None:
    blueprints.reconcile(bp.team)


@login_required
def blueprint_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    return editing.edit(request, BlueprintForm, instance=None, title="New backup blueprint",
                        back_url=reverse("backups:blueprint-list"), back_label="Backup blueprints",
                        success=lambda o: reverse("backups:blueprint-detail", args=[o.uuid]), after_save=_reconcile,
                        saved="Blueprint '{obj}' saved: each matching cluster gets its configuration, then a first backup.",
                        template="blueprints/form.html")


@login_required
def blueprint_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    bp = _get_blueprint_for_user(request, uuid, write=True)
    back = reverse("backups:blueprint-detail", args=[bp.uuid])
    return editing.edit(request, BlueprintForm, instance=bp, title=f"Edit blueprint {bp.name}", back_url=back,
                        back_label=bp.name, success=lambda o: back, after_save=_reconcile,
                        saved="Blueprint '{obj}' saved: the configurations made from it follow.", template="blueprints/form.html")


@login_required
def blueprint_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    bp = _get_blueprint_for_user(request, uuid, write=True)
    n = bp.configurations.count()
    back = reverse("backups:blueprint-detail", args=[bp.uuid])
    return editing.delete(request, bp, title=f"Delete blueprint {bp.name}", back_url=back,
                          success_url=reverse("backups:blueprint-list"),
                          losses=[f"The template. Its {n} configuration(s) stay, paused, with their snapshots, and become "
                                  "your own (resume them on their pages)."])


@login_required
def blueprint_preview(request: DashboardRequest) -> HttpResponse:
    """HTMX: which clusters the typed selector matches, and what each would get."""
    team = active_team.resolve(request).team
    uuid = request.GET.get("blueprint", "")
    bp = _get_blueprint_for_user(request, uuid) if uuid else BackupBlueprint(team=team)
    bp.name = request.GET.get("name", bp.name) or bp.name
    error = ""
    try:
        bp.selector = parse_selector(request.GET.get("selector", ""))
        found = selector_errors(bp.selector)
        if found:
            error = "; ".join(f"{p}: {m}" if p else m for p, m in found)
    except ValidationError as e:
        error = " ".join(e.messages)
    rows = [] if error else blueprints.preview(bp)
    return render(request, "blueprints/_preview.html", {"rows": rows, "error": error, "blueprint": bp, "live": True})


@login_required
@require_POST
def configuration_detach(request: DashboardRequest, uuid: str) -> HttpResponse:
    config = get_for_user(request, BackupConfiguration, uuid, write=True)
    if config.blueprint_id is None:
        messages.error(request, f"{config.name} follows no blueprint: there is nothing to detach.")
    else:
        with transaction.atomic():
            blueprints.detach(config, request)
        messages.success(request, f"{config.name} is detached from blueprint '{config.blueprint_name}': it is your own now, "
                                  "and the blueprint no longer changes it.")
    return redirect("backups:configuration-detail", uuid=config.uuid)


