"""The overview: one row per backup configuration with its health at a glance,
running sessions with live progress, storage usage; failing things first."""
from __future__ import annotations

from collections import defaultdict
from datetime import timedelta
from typing import Any

from django.contrib.auth.decorators import login_required
from django.db.models import Count, OuterRef, Prefetch, Subquery, Sum
from django.http import HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from backups.models import (
    BackupConfiguration,
    BackupSession,
    BackupSessionConfig,
    Snapshot,
)
from dashboard import charts, progress
from dashboard.templatetags.stash import PHASE_CLASS
from dashboard.views.access import DashboardRequest, team_qs
from restores.models import RestoreSession
from storage.models import BackupStorage

DAYS = 30


def _strip(sessions: list[dict[str, Any]], today: Any) -> list[dict[str, Any]]:
    """One cell per day, oldest first: the worst outcome of that day wins."""
    rank = {"bad": 4, "warn": 3, "run": 2, "ok": 1}
    by_day: dict[Any, str] = {}
    for s in sessions:
        day = timezone.localdate(s["created"])
        cls = PHASE_CLASS.get(s["phase"], "")
        if rank.get(cls, 0) > rank.get(by_day.get(day, ""), 0):
            by_day[day] = cls
    cells = []
    for i in range(DAYS - 1, -1, -1):
        day = today - timedelta(days=i)
        cls = by_day.get(day, "")
        cells.append({"day": day, "cls": cls, "label": f"{day:%b %d}: " + ({"ok": "succeeded", "bad": "failed", "warn": "skipped or cancelled",
                                                                           "run": "running"}.get(cls, "no backup"))})
    return cells


def _running(request: DashboardRequest) -> tuple[list[BackupSession], list[RestoreSession]]:
    sessions = list(team_qs(request, BackupSession.objects.running()).select_related("configuration")
                    .prefetch_related(Prefetch("snapshots", queryset=Snapshot.objects.select_related("repository")))
                    .order_by("-created")[:20])
    for s in sessions:
        snaps = list(s.snapshots.all())
        live = [progress.summarize(x.progress, x.started) for x in snaps]
        s.live = {"docs": sum(x["docs"] for x in live), "bytes": sum(x["bytes"] for x in live),
                  "rate": sum(x["rate"] for x in live), "index": next((x["index"] for x in live if x["index"]), ""),
                  "percent": min((x["percent"] for x in live if x["percent"] is not None), default=None),
                  "eta": max((x["eta"] for x in live if x["eta"] is not None), default=None)}
    restores = list(team_qs(request, RestoreSession).filter(phase__in=[RestoreSession.Phase.PENDING, RestoreSession.Phase.RUNNING])
                    .select_related("target", "repository").order_by("-created")[:20])
    for r in restores:
        r.live = progress.summarize(r.progress, r.started)  # type: ignore[attr-defined]  # view-only value the template reads
    return sessions, restores


def _starting(request: DashboardRequest) -> bool:
    """A configuration whose repositories are being initialized: its instant backup is coming."""
    configs = (team_qs(request, BackupConfiguration).filter(phase=BackupConfiguration.Phase.NOT_READY, paused=False)
               .prefetch_related("sessions__repositories__storage"))
    return any(r.is_initializing() for c in configs for s in c.sessions.all() for r in s.repositories.all())


def _running_context(request: DashboardRequest) -> dict[str, Any]:
    sessions, restores = _running(request)
    # The list polls while something runs or is about to; the poll answers 286 once nothing does.
    return {"running": sessions, "restores": restores, "polling": bool(sessions or restores) or _starting(request)}


@login_required
@vary_on_headers("HX-Request")
def overview(request: DashboardRequest) -> HttpResponse:
    if request.htmx:
        return overview_running(request)
    now = timezone.now()
    since = now - timedelta(days=DAYS)
    last = BackupSession.objects.filter(configuration=OuterRef("pk")).order_by("-created")
    checked = Snapshot.objects.filter(backup_session__configuration=OuterRef("pk")).exclude(verified=None).order_by("-verified")
    configs = list(team_qs(request, BackupConfiguration).select_related("target")
                   .prefetch_related(Prefetch("sessions", queryset=BackupSessionConfig.objects.order_by("name")))
                   .annotate(last_phase=Subquery(last.values("phase")[:1]), last_created=Subquery(last.values("created")[:1]),
                             last_uuid=Subquery(last.values("uuid")[:1]),
                             last_verified=Subquery(checked.values("verified")[:1]),
                             last_verification=Subquery(checked.values("verification")[:1]))
                   .order_by("name"))
    history: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for s in (team_qs(request, BackupSession).filter(created__gte=since).annotate(size=Sum("snapshots__size_bytes"))
              .order_by("created").values("configuration_id", "phase", "created", "started", "finished", "size")):
        history[s["configuration_id"]].append(s)
    today = timezone.localdate(now)
    failing: set[int] = set()
    # strip, last_size, last_duration, next_run and failing are view-only values the template reads off
    # each configuration: no model field or annotate() holds them, so django-stubs does not know them.
    for c in configs:
        h = history.get(c.pk, [])
        c.strip = _strip(h, today)  # type: ignore[attr-defined]  # view-only, see above
        done = [s for s in h if s["phase"] == "Succeeded"]
        c.last_size = done[-1]["size"] if done else None  # type: ignore[attr-defined]  # view-only, see above
        timed = done and done[-1]["started"] and done[-1]["finished"]
        c.last_duration = (done[-1]["finished"] - done[-1]["started"]).total_seconds() if timed else None  # type: ignore[attr-defined]  # view-only, see above
        runs = []
        if not c.paused:
            for sc in c.sessions.all():
                try:
                    runs += sc.next_runs(1, start=now)
                except (ValueError, KeyError):
                    pass
        c.next_run = min(runs) if runs else None  # type: ignore[attr-defined]  # view-only, see above
        if c.last_phase == "Failed" or c.phase in ("NotReady", "Invalid") and c.last_created is not None:
            failing.add(c.pk)
        c.failing = c.pk in failing  # type: ignore[attr-defined]  # view-only, see above
    configs.sort(key=lambda c: (c.pk not in failing, c.name))
    storages = list(team_qs(request, BackupStorage).annotate(used=Sum("repositories__size_bytes"),
                                                             repos=Count("repositories")).order_by("name"))
    live = _running_context(request)
    ctx = {"title": "Overview", "configurations": configs, "storages": storages, **live,
           "days_chart": charts.days_grid([(c.name, c.strip) for c in configs], today),  # type: ignore[attr-defined]  # view-only strip
           "failing_count": len(failing), "running_count": len(live["running"]) + len(live["restores"])}
    return render(request, "overview/overview.html", ctx)


@login_required
def overview_running(request: DashboardRequest) -> HttpResponse:
    ctx = _running_context(request)
    response = render(request, "overview/overview.html#running", ctx)
    if request.htmx and not ctx["polling"]:
        response.status_code = HttpResponseStopPolling.status_code
    return response
