from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from backups.models import Cluster
from dashboard.forms.resources import ClusterForm
from dashboard.views import editing
from dashboard.views.access import (
    DashboardRequest,
    get_for_user,
    require_write,
    team_qs,
)

TEST_TIMEOUT = 8.0  # seconds: a page must answer even when the cluster does not


def _get_cluster_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> Cluster:
    return get_for_user(request, Cluster, uuid, write=write)


@login_required
def cluster_list(request: DashboardRequest) -> HttpResponse:
    clusters = team_qs(request, Cluster).select_related("auth_secret").order_by("name")
    return render(request, "clusters/list.html", {"title": "Clusters", "clusters": clusters})


@login_required
def cluster_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid)
    configs = cluster.backup_configurations.order_by("name")
    return render(request, "clusters/detail.html", {"title": cluster.name, "cluster": cluster, "configurations": configs})


@login_required
def cluster_new(request: DashboardRequest) -> HttpResponse:
    require_write(request)
    return editing.edit(request, ClusterForm, instance=None, title="New cluster", back_url=reverse("dashboard:cluster-list"),
                        back_label="Clusters", success=lambda o: reverse("dashboard:cluster-detail", args=[o.uuid]),
                        saved="Cluster '{obj}' saved: test its connection.")


@login_required
def cluster_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid, write=True)
    back = reverse("dashboard:cluster-detail", args=[cluster.uuid])
    return editing.edit(request, ClusterForm, instance=cluster, title=f"Edit cluster {cluster.name}", back_url=back,
                        back_label=cluster.name, success=lambda o: back, saved="Cluster '{obj}' saved.")


@login_required
def cluster_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid, write=True)
    blockers = [f"Backup configuration {c} targets it: delete or retarget it first." for c in cluster.backup_configurations.all()]
    blockers += [f"Restore {r} targets it: delete it first." for r in cluster.restore_sessions.all()[:5]]
    blockers += [f"Verifier {v} restores into it: delete the verifier or choose another scratch cluster." for v in cluster.verifiers.all()]
    back = reverse("dashboard:cluster-detail", args=[cluster.uuid])
    return editing.delete(request, cluster, title=f"Delete cluster {cluster.name}", back_url=back,
                          success_url=reverse("dashboard:cluster-list"),
                          losses=["Only the connection settings; the cluster's data is not touched."], blockers=blockers)


def probe(cluster: Cluster) -> dict[str, Any]:
    """Connect with a short timeout: distribution, version, health, index count, or the exact error."""
    from backups.elastic.connection import ClusterConfig, ClusterError, connect

    opts = cluster.connection_options()
    opts.update(connect_timeout=min(TEST_TIMEOUT, 5.0), request_timeout=min(TEST_TIMEOUT, opts.get("request_timeout", TEST_TIMEOUT)),
                max_retries=0)
    cfg = ClusterConfig(**opts)
    conn = None
    try:
        conn = connect(cfg)
        health = conn.json("GET", "/_cluster/health", privilege="monitor (cluster privilege)")
        try:
            indices = conn.json("GET", "/_cat/indices", params={"format": "json", "h": "index"})
            index_count: int | None = len(indices)
        except ClusterError:
            index_count = health.get("number_of_indices") if isinstance(health, dict) else None
        summary = conn.cluster_summary()
        return {"ok": True, "distribution": summary["distribution"], "version": summary["version"],
                "name": summary["name"], "uuid": summary["uuid"], "health": health.get("status", "unknown"),
                "nodes": health.get("number_of_nodes"), "indices": index_count}
    except ClusterError as e:
        return {"ok": False, "error": str(e)}
    except (OSError, ValueError) as e:
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}
    finally:
        if conn is not None:
            conn.close()


@login_required
@vary_on_headers("HX-Request")
@require_POST
def cluster_test(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid, write=True)
    result = probe(cluster)
    if result["ok"]:
        cluster.distribution, cluster.version = result["distribution"], result["version"]
        cluster.cluster_uuid = result["uuid"] or cluster.cluster_uuid
        cluster.last_connected, cluster.status_message = timezone.now(), ""
    else:
        cluster.status_message = result["error"]
    cluster.save(update_fields=["distribution", "version", "cluster_uuid", "last_connected", "status_message"])
    ctx = {"title": cluster.name, "cluster": cluster, "result": result}
    if request.htmx:
        # The result replaces #test-result; the connection card (distribution, last error) follows out of band.
        html = render_to_string("clusters/detail.html#test-result", ctx, request=request)
        html += render_to_string("clusters/detail.html#connection", {**ctx, "oob": True}, request=request)
        return HttpResponse(html)
    return render(request, "clusters/detail.html", {**ctx, "configurations": cluster.backup_configurations.order_by("name")})
