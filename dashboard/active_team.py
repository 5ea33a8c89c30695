"""The active team: the tenancy boundary every dashboard page is scoped to.

The team is kept in the session under ACTIVE_TEAM_KEY; a user in one team never
has to pick it. `request.team`, `request.role` and `request.can_write` are set by
ActiveTeamMiddleware lazily (the admin and static files never pay for the query).

A superuser sees every team and may act in each, but their role is what their
membership says (or None): the page says "superuser" and why they can act, never
"owner" where they are not one."""
from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.functional import SimpleLazyObject

from tenancy.models import Membership, Team

ACTIVE_TEAM_KEY = "active_team"


class _Active:
    def __init__(self, team: Team | None, role: str | None, teams: list[Team], superuser: bool = False) -> None:
        self.team = team
        self.role = role
        self.teams = teams
        self.superuser = superuser

    @property
    def by_superuser(self) -> bool:
        """Acting on more than the membership gives: a superuser who is not this team's owner."""
        return self.superuser and self.team is not None and self.role != Membership.Role.OWNER


def resolve(request: HttpRequest) -> _Active:
    cached = getattr(request, "_active_team", None)
    if cached is not None:
        return cached
    user = request.user
    if not user.is_authenticated:
        active = _Active(None, None, [])
    else:
        memberships = list(Membership.objects.filter(user=user).select_related("team").order_by("team__name"))
        roles = {m.team_id: m.role for m in memberships}
        teams = list(Team.objects.all()) if user.is_superuser else [m.team for m in memberships]
        wanted = request.session.get(ACTIVE_TEAM_KEY)
        team = next((t for t in teams if str(t.uuid) == wanted), teams[0] if teams else None)
        active = _Active(team, roles.get(team.pk) if team else None, teams, superuser=user.is_superuser)
    request._active_team = active  # type: ignore[attr-defined]
    return active


def set_active(request: HttpRequest, team: Team) -> None:
    request.session[ACTIVE_TEAM_KEY] = str(team.uuid)
    request._active_team = None  # type: ignore[attr-defined]
    del request._active_team  # type: ignore[attr-defined]


class ActiveTeamMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.team = SimpleLazyObject(lambda: resolve(request).team)  # type: ignore[attr-defined]
        response = self.get_response(request)
        return self._with_oob_messages(request, response)

    @staticmethod
    def _with_oob_messages(request: HttpRequest, response: HttpResponse) -> HttpResponse:
        # HTMX swaps only its target; messages queued by the view ride along out of
        # band into #messages, so every action can say what happened (STYLE.md).
        if not getattr(request, "htmx", False) or getattr(response, "streaming", False):
            return response
        if "text/html" not in response.get("Content-Type", "") or response.status_code >= 300:
            return response
        if response.status_code == 286 and not response.content:
            return response
        storage = messages.get_messages(request)
        pending = list(storage)
        if pending:
            response.content += render_to_string("_messages.html", {"messages": pending, "oob": True}).encode()
        return response


def role(request: HttpRequest) -> str | None:
    return resolve(request).role


def can_write(request: HttpRequest) -> bool:
    active = resolve(request)
    if active.team is None:
        return False
    return active.superuser or active.role in (Membership.Role.OWNER, Membership.Role.OPERATOR)


def is_owner(request: HttpRequest) -> bool:
    return role(request) == Membership.Role.OWNER


def can_manage(request: HttpRequest) -> bool:
    """May change the team's settings and members: its owners, and superusers."""
    active = resolve(request)
    return active.team is not None and (active.superuser or active.role == Membership.Role.OWNER)
