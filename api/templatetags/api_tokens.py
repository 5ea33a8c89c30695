from __future__ import annotations

from typing import Any

from django import template

from api.forms import ApiTokenForm
from api.models import ApiToken
from dashboard import active_team

register = template.Library()


@register.inclusion_tag("api/_tokens.html", takes_context=True)
def api_tokens_section(context: Any) -> dict[str, Any]:
    """The API tokens card of Team settings, for the active team (owners only see the page)."""
    request = context["request"]
    team = active_team.resolve(request).team
    tokens = ApiToken.objects.filter(team=team).select_related("created_by") if team is not None else ApiToken.objects.none()
    return {"request": request, "csrf_token": context.get("csrf_token"), "tokens": tokens,
            "form": ApiTokenForm(prefix="token")}
