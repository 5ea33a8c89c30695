"""Each user's time zone: pages show times in it, labelled; exports and /metrics stay UTC.

The zone is the user's Profile.time_zone. Until it is set, the page detects the
browser's zone and saves it (base.html → `profile_detected_zone`); meanwhile times are
UTC, labelled so. One small query per request, memoized on the request."""
from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.models import Profile


def user_zone(request: HttpRequest) -> str:
    """The user's chosen zone name, or "" while none is saved."""
    if not request.user.is_authenticated:
        return ""
    cached: str | None = getattr(request, "_time_zone", None)
    if cached is None:
        cached = Profile.objects.filter(user=request.user).values_list("time_zone", flat=True).first() or ""
        request._time_zone = cached  # type: ignore[attr-defined]
    return cached


def save_zone(request: HttpRequest, name: str) -> None:
    Profile.objects.update_or_create(user=request.user, defaults={"time_zone": name})
    request._time_zone = name  # type: ignore[attr-defined]


def zone_choices() -> list[tuple[str, str]]:
    return [(z, z.replace("_", " ")) for z in sorted(available_timezones()) if "/" in z or z == "UTC"]


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


class TimeZoneMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with timezone.override(_zone(user_zone(request))):
            return self.get_response(request)
