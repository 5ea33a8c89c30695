"""The audit log: a team's owners read their team's entries, superusers every
entry; filtered on the page, exported as JSON lines (streamed, the same filters)."""
from __future__ import annotations

import json
from collections.abc import Iterator

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import urlencode
from django.views.decorators.vary import vary_on_headers

from audit.models import Entry
from dashboard import active_team
from dashboard.forms.audit import AuditFilterForm
from dashboard.views.access import DashboardRequest


def _entries_for(request: DashboardRequest) -> QuerySet[Entry]:
    """Superusers: every entry. Owners: their active team's. Anyone else: 403 (the log
    shows members' addresses and every change, so viewers and operators do not read it)."""
    if request.user.is_superuser:
        return Entry.objects.for_user(request.user)
    team = active_team.resolve(request).team
    if team is None or not active_team.is_owner(request):
        raise PermissionDenied("Only the team's owners can read its audit log.")
    return Entry.objects.for_user(request.user, team=team)


def _filtered(request: DashboardRequest) -> tuple[AuditFilterForm, QuerySet[Entry]]:
    entries = _entries_for(request)
    form = AuditFilterForm(request.GET or None, entries=entries, superuser=request.user.is_superuser)
    if form.is_bound:
        form.is_valid()  # errors show under their fields; the valid filters still apply
    return form, form.filter(entries)


@login_required
@vary_on_headers("HX-Request")
def audit_log(request: DashboardRequest) -> HttpResponse:
    form, entries = _filtered(request)
    page = Paginator(entries, 50).get_page(request.GET.get("page"))
    query = form.query()
    template = "audit/log.html#results" if request.htmx else "audit/log.html"
    return render(request, template, {"title": "Audit log", "form": form, "page": page, "entries": page.object_list,
                                      "query": urlencode(query), "retention_days": settings.AUDIT_RETENTION_DAYS},
                  status=400 if form.errors else 200)


def _lines(entries: QuerySet[Entry]) -> Iterator[bytes]:
    for entry in entries.iterator(chunk_size=1000):
        yield json.dumps(entry.as_json(), ensure_ascii=False).encode() + b"\n"


@login_required
def audit_export(request: DashboardRequest) -> HttpResponse | StreamingHttpResponse:
    form, entries = _filtered(request)
    if form.errors:
        return HttpResponse("; ".join(f"{k}: {' '.join(str(m) for m in v)}" for k, v in form.errors.items()), status=400,
                            content_type="text/plain; charset=utf-8")
    response = StreamingHttpResponse(_lines(entries), content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="audit-{timezone.now():%Y%m%d-%H%M%S}.jsonl"'
    return response
