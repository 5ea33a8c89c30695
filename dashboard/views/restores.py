"""The restore wizard (repository → snapshot → indices → target → conflict policy →
review → start), the restores list and a restore's live progress."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from dashboard import progress
from dashboard.forms.restores import RestoreWizardForm, preview_indices
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)
from dashboard.views.snapshots import _manifest_indices, _open
from restores.models import RestoreSession
from storage.models import Repository

STEPS = ["Repository", "Snapshot", "Indices", "Target cluster", "Conflict policy", "Review"]


def _get_restore_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> RestoreSession:
    return get_for_user(request, RestoreSession.objects.select_related("target", "repository"), uuid, write=write)


@login_required
def restore_list(request: DashboardRequest) -> HttpResponse:
    restores = list(team_qs(request, RestoreSession.objects.for_dashboard())[:100])
    # the rows poll while a restore is pending or running, and stop (286) once all have ended
    completed = all(r.is_completed() for r in restores)
    return editing.live_detail(request, "restores/list.html", {"title": "Restores", "restores": restores,
                                                               "completed": completed}, completed=completed)


def _wizard_initial(request: DashboardRequest) -> dict[str, str]:
    initial = {k: v for k, v in request.GET.dict().items() if v}
    repo_uuid = initial.get("repository")
    if repo_uuid:
        repo = team_qs(request, Repository).filter(uuid=repo_uuid).first() if len(repo_uuid) == 36 else None
        if repo is not None:
            initial["repository"] = str(repo.pk)
    return initial


def _preview(request: DashboardRequest, data: dict) -> dict:
    repo = None
    value = data.get("repository")
    if value:
        qs = team_qs(request, Repository)
        repo = qs.filter(pk=value).first() if str(value).isdigit() else qs.filter(uuid=value).first() if len(str(value)) == 36 else None
    return preview_indices(request.team, repo, data.get("snapshot", "latest"), data.get("indices", "*"), data.get("exclude", ""),
                           data.get("rename_pattern", ""), data.get("rename_replacement", ""))


def _with_aliases(preview: dict, data: dict) -> dict:
    """The review lists each index's aliases as they will be named: the rename applies to
    alias names too (restores.rename). Aliases live only in the manifest: one read, here only."""
    from restores.rename import Renamer

    snap = preview.get("snapshot")
    if snap is None or not preview["rows"]:
        return preview
    meta, error = _manifest_indices(snap)
    try:
        rename = Renamer(data.get("rename_pattern", ""), data.get("rename_replacement", ""))
    except ValueError:
        return preview
    for r in preview["rows"]:
        r["aliases"] = [(a, rename(a)) for a in sorted((meta.get(r["source"]) or {}).get("aliases") or {})]
    return {**preview, "aliases": any(r["aliases"] for r in preview["rows"]), "manifest_error": error}


def _current_step(data: dict) -> int:
    if not data.get("repository"):
        return 0
    if not data.get("target"):
        return 3 if data.get("indices") else 2
    return 4


@login_required
@vary_on_headers("HX-Request")
def restore_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    data: dict[str, Any]  # the POSTed QueryDict, or the initial values from the query string
    if request.method == "POST":
        form = RestoreWizardForm(request.POST, team=request.team)
        action = request.POST.get("action", "review")
        if action != "edit" and form.is_valid():
            preview = _with_aliases(_preview(request, request.POST), request.POST)
            if preview["error"]:
                form.add_error("indices", preview["error"])
            elif action == "start" and not form.require_confirmation():
                return render(request, "restores/review.html", {"title": "Review the restore", "form": form, "preview": preview,
                                                               "steps": STEPS, "step": 5}, status=400)
            elif action == "start":
                try:
                    restore = form.build(request.user)
                    with transaction.atomic():
                        restore.save()
                        from restores import flows

                        flows.start_restore(restore, actor=request,
                                            indices=[(r["source"], r["target"]) for r in preview["rows"]])
                except (IntegrityError, ValidationError) as e:
                    msg = " ".join(e.messages) if isinstance(e, ValidationError) else "choose another restore name"
                    form.add_error("name", f"A restore with this name exists or is invalid: {msg}")
                else:
                    messages.success(request, f"Restore {restore.name} started.")
                    return redirect("restores:restore-detail", uuid=restore.uuid)
            if not form.errors:
                return render(request, "restores/review.html", {"title": "Review the restore", "form": form, "preview": preview,
                                                               "steps": STEPS, "step": 5})
        data = request.POST
    else:
        data = _wizard_initial(request)
        form = RestoreWizardForm(initial=data, team=request.team)
    template = "restores/wizard.html#snapshot-field" if request.htmx and request.GET.get("part") == "snapshot" else "restores/wizard.html"
    return render(request, template, {"title": "Restore", "form": form, "preview": _preview(request, data), "steps": STEPS,
                                      "step": _current_step(data)}, status=400 if form.errors else 200)


def dry_run(form: RestoreWizardForm, snapshot: Any) -> dict[str, Any]:
    """What the restore would do on its target, per index, and how long it would take.
    Reads the manifest and lists the target's indices; writes nothing anywhere."""
    from backups.addons import elasticsearch as addon
    from backups.elastic.connection import ClusterError
    from backups.elastic.dialect import UnsupportedCluster
    from dashboard.views.clusters import describe_failure, quick_connect
    from restores import dryrun, estimates
    from restores.jobs import load_params

    d = form.cleaned_data
    _, manifest, error = _open(snapshot)
    if manifest is None:
        return {"error": error or "The snapshot has nothing in the repository."}
    params = load_params(addon.with_defaults(addon.RESTORE_PARAMS, form.task_params()))
    conn = None
    try:
        conn = quick_connect(d["target"].connection_options())
        planned = dryrun.plan_restore(conn, manifest, params)
        counters = dryrun.indexing_counters(conn)
    except (ClusterError, UnsupportedCluster, OSError, ValueError) as e:
        return {"failure": describe_failure(e)}
    finally:
        if conn is not None:
            conn.close()
    loaded = [p for p in planned if p.action in ("create", "overwrite", "merge")]
    total_bytes, total_docs = sum(p.bytes for p in loaded), sum(p.docs for p in loaded)
    estimate = estimates.estimate(total_bytes, total_docs, estimates.read_speed(d["repository"]),
                                  estimates.index_speed(d["target"], counters))
    counts = {a: sum(1 for p in planned if p.action == a) for a in ("create", "skip", "overwrite", "merge", "fail")}
    return {"planned": planned, "counts": counts, "total_bytes": total_bytes, "total_docs": total_docs,
            "estimate": estimate, "manifest": manifest}


@login_required
@vary_on_headers("HX-Request")
def restore_dry_run(request: DashboardRequest) -> HttpResponse:
    """The review step's dry run (HTMX, loaded with the review): the wizard's fields in
    the query string, checked by the wizard's own form (team-scoped choices)."""
    require_write(request)
    form = RestoreWizardForm(request.GET, team=request.team)
    ctx: dict[str, Any] = {"form": form}
    if not form.is_valid():
        ctx["error"] = "Fix the wizard first: " + "; ".join(
            f"{form.fields[k].label or k}: {' '.join(str(m) for m in v)}" if k != "__all__" else " ".join(str(m) for m in v)
            for k, v in form.errors.items())
    else:
        preview = _preview(request, request.GET)
        if preview["snapshot"] is None or preview["error"]:
            ctx["error"] = preview["error"] or "No such snapshot."
        else:
            ctx.update(dry_run(form, preview["snapshot"]), snapshot=preview["snapshot"])
    status = 400 if "error" in ctx and not form.is_valid() else 200
    if request.htmx:
        return render(request, "restores/dry_run.html", ctx, status=status)
    return render(request, "restores/dry_run_page.html", {**ctx, "title": "Restore dry run"}, status=status)


@login_required
def restore_preview(request: DashboardRequest) -> HttpResponse:
    return render(request, "restores/wizard.html#preview", {"preview": _preview(request, request.GET)})


def _live(restore: RestoreSession) -> dict:
    comps = restore.components or {}
    indices = (comps.get("load") or {}) if isinstance(comps, dict) else {}
    if not indices and not restore.is_completed():
        # while it runs: one row per index from the moment it starts (restores.jobs.RestoreProgress)
        indices = (restore.progress or {}).get("indices") or {}
    rows = sorted(((k, v) for k, v in indices.items() if isinstance(v, dict)), key=lambda kv: kv[0])
    return {"restore": restore, "live": progress.summarize(restore.progress, restore.started), "indices": rows,
            "failed_items": [(k, f) for k, v in rows for f in (v.get("failures") or [])][:200]}


@login_required
@vary_on_headers("HX-Request")
def restore_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    restore = _get_restore_for_user(request, uuid)
    ctx = {"title": restore.name, **_live(restore)}
    return editing.live_detail(request, "restores/detail.html", ctx, completed=restore.is_completed())


@login_required
@require_POST
def restore_cancel(request: DashboardRequest, uuid: str) -> HttpResponse:
    restore = _get_restore_for_user(request, uuid, write=True)
    if restore.is_completed():
        messages.error(request, f"{restore.name} has already ended ({restore.phase}): there is nothing to cancel.")
    else:
        from restores import flows

        flows.cancel_restore(restore, request.user, actor=request)
        messages.success(request, f"Cancelling {restore.name}.")
    return redirect("restores:restore-detail", uuid=restore.uuid)
