from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.urls import reverse
from django.views.decorators.http import require_POST

from backups.models import Snapshot
from dashboard import charts, deletion
from dashboard.forms.resources import RepositoryForm
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)
from storage import flows
from storage.models import Repository


def _get_repository_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> Repository:
    return get_for_user(request, Repository.objects.select_related("storage", "encryption_secret"), uuid, write=write)


@login_required
def repository_list(request: DashboardRequest) -> HttpResponse:
    repos = team_qs(request, Repository).select_related("storage").order_by("name")
    return render(request, "repositories/list.html", {"title": "Repositories", "repositories": repos})


@login_required
def repository_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    repo = _get_repository_for_user(request, uuid)
    snapshots = list(Snapshot.objects.filter(repository=repo).select_related("backup_session").order_by("-created")[:100])
    growth, dedup, stored, logical = [], [], 0, 0
    for s in reversed(snapshots):
        if s.phase == Snapshot.Phase.SUCCEEDED:
            stored += s.uploaded_bytes
            logical += s.size_bytes
            growth.append((s.finished or s.created, stored))
            if stored:
                dedup.append((s.finished or s.created, logical / stored))
    failed = [s.created for s in snapshots if s.phase == Snapshot.Phase.FAILED]
    # polls while the repository is being initialized or a snapshot into it is on its way
    completed = not repo.is_initializing() and all(s.is_completed() for s in snapshots)
    return editing.live_detail(request, "repositories/detail.html", {
        "title": repo.name, "repository": repo, "snapshots": snapshots, "completed": completed,
        "growth_chart": charts.line_chart(growth, unit="bytes", label="Stored bytes (new bytes written, cumulative)",
                                          failures=failed),
        "dedup_chart": charts.line_chart(dedup, unit="ratio", label="Deduplication: bytes backed up per byte stored"),
        "dedup_ratio": dedup[-1][1] if dedup else None,
    }, completed=completed)


def _ensure(repo: Repository) -> None:
    flows.initialize_repository(repo)


@login_required
def repository_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    return editing.edit(request, RepositoryForm, instance=None, title="New repository", back_url=reverse("storage:repository-list"),
                        back_label="Repositories", success=lambda o: reverse("storage:repository-detail", args=[o.uuid]),
                        saved="Repository '{obj}' saved.", after_save=_ensure)


@login_required
@require_POST
def repository_check(request: DashboardRequest, uuid: str) -> HttpResponse:
    repo = _get_repository_for_user(request, uuid, write=True)
    read_data = request.POST.get("read_data") == "1"
    flows.check_repository(repo, read_data=read_data, actor=request)
    what = "every chunk is read and verified" if read_data else "every manifest opens and every chunk is present"
    messages.success(request, f"Checking {repo.name}: {what}; the result appears here.")
    return redirect("storage:repository-detail", uuid=repo.uuid)


@login_required
def repository_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    repo = _get_repository_for_user(request, uuid, write=True)
    back = reverse("storage:repository-detail", args=[repo.uuid])
    return editing.delete(request, repo, title=f"Delete {repo.name}", back_url=back, success_url=reverse("storage:repository-list"),
                          losses=[f"{repo.snapshot_count} snapshots ({filesizeformat(repo.size_bytes)}) leave the dashboard; "
                                  + (f"every file in {repo.storage.location()}/{repo.directory} is deleted (deletion policy WipeOut)."
                                     if repo.deletion_policy == Repository.DeletionPolicy.WIPE_OUT else
                                     f"the files stay in {repo.storage.location()}/{repo.directory} (deletion policy Delete).")],
                          blockers=deletion.blockers(repo), perform=lambda: flows.delete_repository(repo))
