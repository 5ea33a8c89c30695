from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.http import require_POST

import audit
from audit.models import Action
from dashboard import deletion
from dashboard.forms.resources import StorageForm
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)
from storage import flows
from storage.models import BackupStorage, Repository


def _get_storage_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> BackupStorage:
    return get_for_user(request, BackupStorage, uuid, write=write)


def _initialize(storage: BackupStorage) -> None:
    flows.initialize_storage(storage)


@login_required
def storage_list(request: DashboardRequest) -> HttpResponse:
    storages = (team_qs(request, BackupStorage).select_related("secret")
                .annotate(repo_count=Count("repositories", distinct=True), used=Sum("repositories__size_bytes"))
                .order_by("name"))
    return render(request, "storages/list.html", {"title": "Storages", "storages": storages})


@login_required
def storage_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    storage = _get_storage_for_user(request, uuid)
    repos = list(Repository.objects.filter(storage=storage).order_by("name"))
    for r in repos:
        r.storage = storage
    # polls while the storage or one of its repositories is being initialized
    completed = not storage.is_initializing() and not any(r.is_initializing() for r in repos)
    return editing.live_detail(request, "storages/detail.html", {
        "title": storage.name, "storage": storage, "repositories": repos, "used": sum(r.size_bytes for r in repos),
        "completed": completed}, completed=completed)


@login_required
def storage_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    return editing.edit(request, StorageForm, instance=None, title="New storage", back_url=reverse("storage:storage-list"),
                        back_label="Storages", success=lambda o: reverse("storage:storage-detail", args=[o.uuid]),
                        saved="Storage '{obj}' saved; it is being initialized.", after_save=_initialize)


@login_required
def storage_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    storage = _get_storage_for_user(request, uuid, write=True)
    back = reverse("storage:storage-detail", args=[storage.uuid])
    return editing.edit(request, StorageForm, instance=storage, title=f"Edit storage {storage.name}", back_url=back,
                        back_label=storage.name, success=lambda o: back, saved="Storage '{obj}' saved; it is being checked again.",
                        after_save=_initialize)


@login_required
@require_POST
def storage_initialize(request: DashboardRequest, uuid: str) -> HttpResponse:
    storage = _get_storage_for_user(request, uuid, write=True)
    audit.record(request, storage.team, Action.STORAGE_INITIALIZE, storage)
    _initialize(storage)
    messages.success(request, f"Checking storage '{storage.name}' again.")
    return redirect("storage:storage-detail", uuid=storage.uuid)


@login_required
def storage_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    storage = _get_storage_for_user(request, uuid, write=True)
    repos = list(Repository.objects.filter(storage=storage).annotate(n=Count("snapshots")))
    wipe = storage.deletion_policy == BackupStorage.DeletionPolicy.WIPE_OUT
    where = f"its files in {storage.location()} are deleted, with the storage's metadata.yaml (deletion policy WipeOut)" if wipe else \
        f"the files stay in {storage.location()} (deletion policy Delete)"
    losses = [f"Repository {r.name}: {r.n} snapshot records, {filesizeformat(r.size_bytes)}; {where}." for r in repos] or \
        [f"The storage record; {where}."]

    def perform() -> None:
        flows.delete_storage(storage)

    return editing.delete(request, storage, title=f"Delete storage {storage.name}",
                          back_url=reverse("storage:storage-detail", args=[storage.uuid]),
                          success_url=reverse("storage:storage-list"), losses=losses, blockers=deletion.blockers(storage), perform=perform)
