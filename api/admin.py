from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from api.models import ApiToken
from tenancy.admin import TeamScopedAdmin
from tenancy.models import Membership


@admin.register(ApiToken)
class ApiTokenAdmin(TeamScopedAdmin):
    """Tokens are made in Team settings (the only place that can show one once); here
    they are listed, and revoked by the team's owners."""

    list_display = ("name", "team", "scope", "prefix", "created", "last_used")
    list_filter = ("team", "scope")
    readonly_fields = ("team", "name", "scope", "prefix", "created_by", "last_used")
    exclude = ("key_hash",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not request.user.is_staff:
            return False
        if request.user.is_superuser:
            return True
        owned = Membership.objects.filter(user_id=request.user.pk or 0, role=Membership.Role.OWNER)
        return owned.filter(team_id=obj.team_id).exists() if obj is not None else owned.exists()
