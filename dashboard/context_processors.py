from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils import timezone

from dashboard import active_team, timezones


def team(request: HttpRequest) -> dict[str, Any]:
    if not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    active = active_team.resolve(request)
    return {
        "active_team": active.team,
        "teams": active.teams,
        "role": active.role,
        "can_write": active_team.can_write(request),
        "is_owner": active_team.is_owner(request),
        "can_manage": active_team.can_manage(request),
        "by_superuser": active.by_superuser,
        "time_zone": timezone.get_current_timezone_name(),
        "detect_time_zone": not timezones.user_zone(request),
    }
