from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Sum
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.decorators.vary import vary_on_headers

from backups.models import BackupConfiguration, BackupSession, SessionPhase, Snapshot
from dashboard import progress
from dashboard.views import editing
from dashboard.views.access import DashboardRequest, get_for_user, team_qs


def _get_session_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> BackupSession:
    return get_for_user(request, BackupSession.objects.select_related("configuration"), uuid, write=write)


@login_required
@vary_on_headers("HX-Request")
def session_list(request: DashboardRequest) -> HttpResponse:
    sessions = team_qs(request, BackupSession.objects.for_dashboard()).annotate(size=Sum("snapshots__size_bytes"))
    configurations = team_qs(request, BackupConfiguration).order_by("name")
    f = {"configuration": request.GET.get("configuration", ""), "phase": request.GET.get("phase", ""),
         "date": request.GET.get("date", "")}
    if f["configuration"]:
        try:
            sessions = sessions.filter(configuration__uuid=uuid.UUID(f["configuration"]))
        except ValueError:
            sessions = sessions.none()
    if f["phase"] in SessionPhase.values:
        sessions = sessions.filter(phase=f["phase"])
    if f["date"]:
        try:
            day = datetime.strptime(f["date"], "%Y-%m-%d").date()
        except ValueError:
            messages.error(request, f"'{f['date']}' is not a date: use YYYY-MM-DD.")
        else:
            start = timezone.make_aware(datetime.combine(day, time.min))
            sessions = sessions.filter(created__gte=start, created__lt=start + timedelta(days=1))
    page = Paginator(sessions, 50).get_page(request.GET.get("page"))
    template = "sessions/list.html#results" if request.htmx else "sessions/list.html"
    return render(request, template, {"title": "Sessions and snapshots", "page": page, "sessions": page.object_list,
                                      "configurations": configurations, "phases": SessionPhase.choices, "f": f})


def _live_context(session: BackupSession) -> dict:
    snapshots = list(Snapshot.objects.filter(backup_session=session).select_related("repository").order_by("repository__name"))
    for s in snapshots:
        s.live = progress.summarize(s.progress, s.started)
        dump = (s.components or {}).get("dump") or {}
        s.indices = sorted(dump.items()) if isinstance(dump, dict) else []
    return {"session": session, "snapshots": snapshots}


@login_required
@vary_on_headers("HX-Request")
def session_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    session = _get_session_for_user(request, uuid)
    ctx = {"title": session.name, **_live_context(session)}
    return editing.live_detail(request, "sessions/detail.html", ctx, completed=session.is_completed())


@login_required
@require_POST
def session_cancel(request: DashboardRequest, uuid: str) -> HttpResponse:
    session = _get_session_for_user(request, uuid, write=True)
    if session.is_completed():
        messages.error(request, f"{session.name} has already ended ({session.phase}): there is nothing to cancel.")
    else:
        from backups import flows

        flows.cancel_session(session, request.user, actor=request)
        messages.success(request, f"Cancelling {session.name}: the running step stops at its next checkpoint.")
    return redirect("backups:session-detail", uuid=session.uuid)
