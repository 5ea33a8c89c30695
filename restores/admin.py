from __future__ import annotations

from typing import Any

from django.contrib import admin

from restores import flows
from restores.models import RestoreSession
from tenancy.admin import TeamScopedAdmin


@admin.register(RestoreSession)
class RestoreSessionAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "repository", "snapshot", "target", "phase", "created", "finished"]
    list_filter = ["phase", "team"]
    search_fields = ["name", "repository__name", "target__name", "error"]
    date_hierarchy = "created"
    readonly_fields = [
        "uuid", "resolved_snapshot_id", "phase", "started", "finished", "components", "progress", "heartbeat",
        "cancel_requested_by", "cancelled_by", "error", "hook_results", "created_by", "created",
    ]

    def save_model(self, request: Any, obj: RestoreSession, form: Any, change: bool) -> None:
        if not change:
            obj.created_by = request.user.get_username()
        super().save_model(request, obj, form, change)
        if not change:
            flows.start_restore(obj, actor=request)

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("repository", "target")
