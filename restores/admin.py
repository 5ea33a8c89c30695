from __future__ import annotations

from typing import Any

from django.contrib import admin

from restores import flows
from restores.models import BackupVerifier, RestoreSession, VerificationRun
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


@admin.register(BackupVerifier)
class BackupVerifierAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "repository", "target", "schedule", "every_n_backups", "snapshots", "paused"]
    list_filter = ["paused", "team"]
    search_fields = ["name", "repository__name", "target__name"]
    readonly_fields = ["uuid", "last_scheduled", "backups_seen", "owned_indices", "created"]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("repository", "target")


@admin.register(VerificationRun)
class VerificationRunAdmin(TeamScopedAdmin):
    list_display = ["__str__", "team", "trigger", "phase", "created", "finished"]
    list_filter = ["phase", "team"]
    search_fields = ["verifier__name", "error"]
    readonly_fields = ["uuid", "verifier", "snapshot", "trigger", "phase", "started", "finished", "components", "progress",
                       "heartbeat", "cancel_requested_by", "error", "created"]

    def has_add_permission(self, request: Any) -> bool:
        return False  # runs are started by their verifier

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("verifier", "snapshot")
