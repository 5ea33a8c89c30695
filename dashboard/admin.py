from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from dashboard.models import Profile


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    """Users' own settings: each user changes theirs on the dashboard's profile page;
    here only superusers see and change everyone's."""

    list_display = ["user", "time_zone"]
    search_fields = ["user__username"]

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser
