"""BackupVerifiers: list, detail (with its runs), create, edit, delete, verify now."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

import audit
from audit.models import Action
from dashboard.forms.verifiers import VerifierForm
from dashboard.views import editing
from dashboard.views.access import DashboardRequest, get_for_user, require_write, team_qs
from restores import flows
from restores.models import BackupVerifier


def _get_verifier_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> BackupVerifier:
    return get_for_user(request, BackupVerifier.objects.select_related("repository", "target"), uuid, write=write)


@login_required
def verifier_list(request: DashboardRequest) -> HttpResponse:
    verifiers = team_qs(request, BackupVerifier).select_related("repository", "target").order_by("name")
    return render(request, "verifiers/list.html", {"title": "Verifiers", "verifiers": verifiers})


@login_required
def verifier_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    verifier = _get_verifier_for_user(request, uuid)
    runs = list(verifier.runs.select_related("snapshot").order_by("-created")[:50])
    completed = all(r.is_completed() for r in runs)
    return editing.live_detail(request, "verifiers/detail.html", {
        "title": verifier.name, "verifier": verifier, "runs": runs, "completed": completed}, completed=completed)


@login_required
def verifier_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    return editing.edit(request, VerifierForm, instance=None, title="New verifier", back_url=reverse("restores:verifier-list"),
                        back_label="Verifiers", success=lambda o: reverse("restores:verifier-detail", args=[o.uuid]),
                        saved="Verifier '{obj}' saved.")


@login_required
def verifier_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    verifier = _get_verifier_for_user(request, uuid, write=True)
    back = reverse("restores:verifier-detail", args=[verifier.uuid])
    return editing.edit(request, VerifierForm, instance=verifier, title=f"Edit verifier {verifier.name}", back_url=back,
                        back_label=verifier.name, success=lambda o: back, saved="Verifier '{obj}' saved.")


@login_required
def verifier_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    verifier = _get_verifier_for_user(request, uuid, write=True)
    back = reverse("restores:verifier-detail", args=[verifier.uuid])
    return editing.delete(request, verifier, title=f"Delete verifier {verifier.name}", back_url=back,
                          success_url=reverse("restores:verifier-list"),
                          losses=["Its runs' history; the snapshots keep what their last verification found."])


@login_required
@require_POST
def verifier_run(request: DashboardRequest, uuid: str) -> HttpResponse:
    verifier = _get_verifier_for_user(request, uuid, write=True)
    runs = flows.verify_now(verifier)
    if runs:
        audit.record(request, verifier.team, Action.VERIFY_NOW, verifier,
                     details={"snapshots": [r.snapshot.snapshot_id for r in runs], "target_cluster": verifier.target.name})
        messages.success(request, f"Verifying {len(runs)} snapshot(s) of {verifier.repository.name} into {verifier.target.name}.")
    else:
        messages.error(request, f"Repository {verifier.repository.name} has no successful snapshot to verify yet.")
    return redirect("restores:verifier-detail", uuid=verifier.uuid)
