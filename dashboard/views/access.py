"""Access helpers shared by the per-resource `_get_<thing>_for_user` functions.

Reads go through `for_user(user, team=active team)`, writes through `writable_by`:
another team's object is a 404, a viewer's write is a 403."""
from __future__ import annotations

from typing import Any, TypeVar

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from django_htmx.middleware import HtmxDetails

from dashboard import active_team
from tenancy.models import Team, TeamOwned, TeamOwnedQuerySet

M = TypeVar("M", bound=TeamOwned)


class DashboardRequest(HttpRequest):
    """What the middleware adds to a request (django-htmx's typing recipe)."""

    htmx: HtmxDetails
    team: Team




def team_qs(request: HttpRequest, model: type[M] | QuerySet[M], write: bool = False) -> QuerySet[M]:
    qs = model if isinstance(model, QuerySet) else model.objects.all()
    if not isinstance(qs, TeamOwnedQuerySet):
        raise TypeError(f"{qs.model.__name__} querysets are not team-scoped: pass a TeamOwned model or its objects")
    team = active_team.resolve(request).team
    if team is None:
        return qs.none()
    if write:
        return qs.writable_by(request.user, team=team)
    return qs.for_user(request.user, team=team)


def get_for_user(request: HttpRequest, model: type[M] | QuerySet[M], uuid: Any, write: bool = False) -> M:
    qs = team_qs(request, model)
    try:
        obj = qs.get(uuid=uuid)
    except (ObjectDoesNotExist, ValueError) as e:  # the model's DoesNotExist, or a malformed uuid
        raise Http404("Not found in this team.") from e
    if write:
        require_write(request)
    return obj


def require_write(request: HttpRequest) -> None:
    if not active_team.can_write(request):
        raise PermissionDenied("Your role in this team can look but not change anything.")


def require_owner(request: HttpRequest) -> None:
    if not active_team.can_manage(request):
        raise PermissionDenied("Only the team's owners can change its settings and members.")


def owned_team(request: HttpRequest) -> Team:
    """The active team, for pages only its owners (and superusers) use: Team settings,
    its members and its API tokens."""
    team = active_team.resolve(request).team
    if team is None:
        raise Http404("No team.")
    require_owner(request)
    return team
