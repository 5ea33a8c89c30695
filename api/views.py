"""API tokens in Team settings: owners make them (the token is shown once, on the page
that answers the POST) and revoke them. The list is a partial of the settings page
(`{% api_tokens_section %}`, api/templatetags/api_tokens.py)."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from api import signals
from api.forms import ApiTokenForm
from api.models import ApiToken
from dashboard.views.access import DashboardRequest, owned_team


@never_cache
@login_required
@require_POST
def token_create(request: DashboardRequest) -> HttpResponse:
    team = owned_team(request)
    form = ApiTokenForm(request.POST, prefix="token")
    if not form.is_valid():
        return render(request, "api/token_new.html", {"title": "New API token", "form": form}, status=400)
    token, value = ApiToken.issue(team, form.cleaned_data["name"], form.cleaned_data["scope"], request.user)
    signals.token_created.send(sender=ApiToken, token=token, user=request.user, request=request)
    return render(request, "api/token_created.html", {"title": "API token created", "token": token, "value": value,
                                                      "site_url": request.build_absolute_uri("/").rstrip("/")})


@login_required
@require_POST
def token_revoke(request: DashboardRequest, uuid: str) -> HttpResponse:
    team = owned_team(request)
    token = get_object_or_404(ApiToken, team=team, uuid=uuid)
    signals.token_revoked.send(sender=ApiToken, token=token, user=request.user, request=request)
    token.delete()
    messages.success(request, f"Revoked the API token '{token.name}' ({token.prefix}…): it no longer works.")
    return redirect("tenancy:team-settings")
