"""The create/edit/delete steps every resource page shares (the views stay per area)."""
from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.db import IntegrityError, models, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

import audit
from audit.log import form_fields
from audit.models import Action
from dashboard import active_team
from dashboard.forms.base import INLINE_PREFIX


def inline_target(request: HttpRequest) -> str | None:
    """The id of the <select> a dialog-made object goes into (?inline=id_…), on an HTMX
    request for a new object; None for the page itself."""
    target = request.GET.get("inline", "")
    if getattr(request, "htmx", False) and re.fullmatch(r"[A-Za-z][-\w]{0,80}", target):
        return target
    return None


def edit(request: HttpRequest, form_class: type, *, instance: models.Model | None, title: str, back_url: str,
         back_label: str, success: Callable[[Any], str], saved: str, after_save: Callable[[Any], None] | None = None,
         template: str = "_form_page.html", extra: dict[str, Any] | None = None) -> HttpResponse:
    """The page of a form; for a new object asked for by a dialog (`inline_target`), the
    form alone, and once saved an `stash:created` event that selects the object in the
    form the dialog was opened from (static/js/stashboard.js)."""
    team = active_team.resolve(request).team
    # Every caller checks write access first (require_write or get_for_user(write=True)), and only a team gives a role.
    assert team is not None, "editing.edit() needs write access to the active team"
    inline = inline_target(request) if instance is None else None
    form = form_class(request.POST or None, instance=instance, team=team, **({"prefix": INLINE_PREFIX} if inline else {}))
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                obj = form.save()
                audit.record(request, team, Action.CHANGED if instance is not None else Action.CREATED, obj,
                             fields=form_fields(form))
                if after_save:
                    after_save(obj)
        except IntegrityError:
            form.add_error("name", f"{team.name} already has one named '{form.cleaned_data.get('name')}': choose another name.")
        else:
            if inline:
                response = render(request, "_inline_form.html", {"title": title, "created": obj})
                return trigger_client_event(response, "stash:created", {"select": inline, "value": obj.pk, "label": str(obj)})
            messages.success(request, saved.format(obj=obj))
            return redirect(success(obj))
    ctx = {"form": form, "title": title, "back_url": back_url, "back_label": back_label, "object": instance}
    ctx.update(extra or {})
    return render(request, "_inline_form.html" if inline else template, ctx, status=400 if form.errors else 200)


def delete(request: HttpRequest, obj: models.Model, *, title: str, back_url: str, success_url: str,
           losses: list[str], blockers: list[str] | None = None, perform: Callable[[], object] | None = None) -> HttpResponse:
    """GET: a confirmation page saying what will be lost. POST: delete (or refuse, with why)."""
    blockers = blockers or []
    if request.method == "POST" and not blockers:
        name = str(obj)
        try:
            with transaction.atomic():
                audit.record(request, None, Action.DELETED, obj)
                (perform or obj.delete)()
        except models.RestrictedError as e:
            users = sorted({str(o) for o in e.restricted_objects})[:5]
            messages.error(request, f"'{name}' is still used by {', '.join(users)}: remove or change those first.")
            return redirect(back_url)
        messages.success(request, f"Deleted '{name}'.")
        return redirect(success_url)
    return render(request, "_confirm_delete.html", {"title": title, "object": obj, "back_url": back_url,
                                                    "losses": losses, "blockers": blockers},
                  status=409 if request.method == "POST" else 200)


def live_detail(request: HttpRequest, template: str, ctx: dict[str, Any], *, completed: bool) -> HttpResponse:
    """A page whose `#live` partial HTMX polls: the partial for a poll (286, stop polling,
    once the run is completed), the whole page otherwise. Either varies on HX-Request, so
    a cache or the back button never shows the partial as the page."""
    if getattr(request, "htmx", False):
        response = render(request, f"{template}#live", ctx)
        if completed:
            response.status_code = HttpResponseStopPolling.status_code
    else:
        response = render(request, template, ctx)
    patch_vary_headers(response, ["HX-Request"])
    return response
