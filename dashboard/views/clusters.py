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

import audit
from audit.models import Action
from backups.models import Cluster
from dashboard import deletion
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
    return editing.edit(request, ClusterForm, instance=None, title="New cluster", back_url=reverse("backups:cluster-list"),
                        back_label="Clusters", success=lambda o: reverse("backups:cluster-detail", args=[o.uuid]),
                        saved="Cluster '{obj}' saved.", template="clusters/form.html", after_save=_reconcile_blueprints)


@login_required
def cluster_edit(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid, write=True)
    back = reverse("backups:cluster-detail", args=[cluster.uuid])
    return editing.edit(request, ClusterForm, instance=cluster, title=f"Edit cluster {cluster.name}", back_url=back,
                        back_label=cluster.name, success=lambda o: back, saved="Cluster '{obj}' saved.",
                        template="clusters/form.html", after_save=_reconcile_blueprints)


def _reconcile_blueprints(cluster: Cluster) -> None:
    """Its labels may match a blueprint now, or no longer (backups.blueprints)."""
    from backups import blueprints

    blueprints.reconcile(cluster.team)


@login_required
def cluster_delete(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid, write=True)
    back = reverse("backups:cluster-detail", args=[cluster.uuid])
    return editing.delete(request, cluster, title=f"Delete cluster {cluster.name}", back_url=back,
                          success_url=reverse("backups:cluster-list"),
                          losses=["Only the connection settings; the cluster's data is not touched."], blockers=deletion.blockers(cluster))


def quick_connect(opts: dict[str, Any]) -> Any:
    """A connection with a short timeout and no retries (a page must answer even when the
    cluster does not), identified: an answer that is not a search server's says so."""
    from backups.elastic.connection import ClusterConfig, Connection
    from backups.elastic.overview import identify_checked

    opts = dict(opts, connect_timeout=min(TEST_TIMEOUT, 5.0), max_retries=0,
                request_timeout=min(TEST_TIMEOUT, opts.get("request_timeout", TEST_TIMEOUT)))
    conn = Connection(ClusterConfig(**opts))
    try:
        identify_checked(conn)
    except BaseException:
        conn.close()
        raise
    return conn


FAILURE_HEADLINES = {
    "DNS": "DNS: the host name does not resolve.",
    "TLS": "TLS: the secure connection could not be set up.",
    "authentication": "Authentication: the cluster refused the credentials.",
    "permissions": "Permissions: the user may log in but lacks a privilege.",
    "not a search server": "Not a search server: something answered, but not Elasticsearch or OpenSearch.",
    "unreachable": "Unreachable: nothing answered at this address.",
    "timeout": "Timeout: the cluster did not answer in time.",
    "form": "The form is not complete.",
    "error": "",
}


def describe_failure(e: Exception) -> dict[str, Any]:
    from backups.elastic.overview import failure_kind

    kind = failure_kind(e)
    return {"ok": False, "kind": kind, "headline": FAILURE_HEADLINES[kind], "error": str(e) or type(e).__name__}


def probe(opts: dict[str, Any]) -> dict[str, Any]:
    """Connect: distribution, version, health, nodes, index count, or which step failed
    (DNS, TLS, authentication, not a search server…) and the exact error."""
    from backups.elastic.connection import ClusterError
    from backups.elastic.dialect import UnsupportedCluster

    conn = None
    try:
        conn = quick_connect(opts)
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
    except (ClusterError, UnsupportedCluster, OSError, ValueError) as e:
        return describe_failure(e)
    finally:
        if conn is not None:
            conn.close()


def _index_rows(cluster: Cluster, overview: Any) -> list[dict[str, Any]]:
    """Every index with its statistics and the configurations whose next backup reads it
    (their patterns, through the dump's own selection)."""
    from backups.jobs import dump_params

    choosers = []
    for config in cluster.backup_configurations.prefetch_related("sessions").order_by("name"):
        for sc in config.sessions.all():
            p = dump_params(sc.params())
            label = config.name if sc.name == "full" else f"{config.name}/{sc.name}"
            choosers.append((label, config, overview.selected(p.include, p.exclude, p.include_hidden)))
    rows = []
    for info in overview.indices:
        stats = overview.stats.get(info.name)
        rows.append({"info": info, "docs": stats.docs if stats else None, "bytes": stats.bytes if stats else None,
                     "backed_up_by": [(label, config) for label, config, names in choosers if info.name in names]})
    return rows


@login_required
@vary_on_headers("HX-Request")
def cluster_overview(request: DashboardRequest, uuid: str) -> HttpResponse:
    """The cluster as it is now (read live, with a short timeout): the detail page loads it
    into #overview; an unreachable cluster is a message saying which step failed."""
    from backups.elastic.connection import ClusterError
    from backups.elastic.dialect import UnsupportedCluster
    from backups.elastic.overview import cluster_overview as read_overview

    cluster = _get_cluster_for_user(request, uuid)
    ctx: dict[str, Any] = {"title": cluster.name, "cluster": cluster, "loaded": True}
    conn = None
    try:
        conn = quick_connect(cluster.connection_options())
        overview = read_overview(conn)
        ctx.update(overview=overview, rows=_index_rows(cluster, overview))
    except (ClusterError, UnsupportedCluster, OSError, ValueError) as e:
        ctx["failure"] = describe_failure(e)
    finally:
        if conn is not None:
            conn.close()
    if request.htmx:
        return render(request, "clusters/detail.html#overview", ctx)
    return render(request, "clusters/detail.html", {**ctx, "configurations": cluster.backup_configurations.order_by("name")})


CONNECTION_FIELDS = ("urls", "auth", "auth_secret", "ca_bundle", "verify_tls", "timeout")


def _tested_cluster(request: DashboardRequest) -> tuple[Cluster | None, list[str]]:
    """The cluster as the form describes it, unsaved, or the fields to fix first."""
    existing = None
    if request.POST.get("cluster"):
        existing = _get_cluster_for_user(request, request.POST["cluster"], write=True)
    team = request.team
    form = ClusterForm(request.POST, instance=existing, team=team)
    form.is_valid()
    wrong = [f"{form.fields[k].label}: {' '.join(str(m) for m in form.errors[k])}" for k in CONNECTION_FIELDS if k in form.errors]
    return (None, wrong) if wrong else (form.instance, [])


@login_required
@vary_on_headers("HX-Request")
@require_POST
def cluster_test_form(request: DashboardRequest) -> HttpResponse:
    """"Test connection" on the cluster form, before saving: the typed URLs and
    credentials, nothing written."""
    require_write(request)
    cluster, wrong = _tested_cluster(request)
    if cluster is None:
        result = {"ok": False, "kind": "form", "headline": FAILURE_HEADLINES["form"],
                  "error": "Fix these fields first: " + "; ".join(wrong)}
    else:
        result = probe(cluster.connection_options())
    return render(request, "clusters/_test_result.html", {"result": result})


@login_required
@vary_on_headers("HX-Request")
@require_POST
def cluster_test(request: DashboardRequest, uuid: str) -> HttpResponse:
    cluster = _get_cluster_for_user(request, uuid, write=True)
    result = probe(cluster.connection_options())
    if result["ok"]:
        cluster.distribution, cluster.version = result["distribution"], result["version"]
        cluster.cluster_uuid = result["uuid"] or cluster.cluster_uuid
        cluster.last_connected, cluster.status_message = timezone.now(), ""
    else:
        cluster.status_message = result["error"]
    cluster.save(update_fields=["distribution", "version", "cluster_uuid", "last_connected", "status_message"])
    audit.record(request, cluster.team, Action.CLUSTER_TEST, cluster,
                 details={"ok": result["ok"], "version": result.get("version", ""), "error": result.get("error", "")})
    ctx = {"title": cluster.name, "cluster": cluster, "result": result}
    if request.htmx:
        # The result replaces #test-result; the connection card (distribution, last error) follows out of band.
        html = render_to_string("clusters/detail.html#test-result", ctx, request=request)
        html += render_to_string("clusters/detail.html#connection", {**ctx, "oob": True}, request=request)
        return HttpResponse(html)
    return render(request, "clusters/detail.html", {**ctx, "configurations": cluster.backup_configurations.order_by("name")})
