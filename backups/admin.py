from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.template.defaultfilters import filesizeformat

from backups import blueprints, flows
from backups.models import BackupBlueprint, BackupConfiguration, BackupSession, BackupSessionConfig, Cluster, Snapshot
from tenancy.admin import TeamScopedAdmin, TenancyInlineMixin


@admin.register(Cluster)
class ClusterAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "first_url", "distribution", "version", "last_connected"]
    list_filter = ["distribution", "team"]
    search_fields = ["name", "urls"]
    readonly_fields = ["uuid", "distribution", "version", "cluster_uuid", "last_connected", "status_message", "created"]

    def save_model(self, request: Any, obj: Cluster, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        blueprints.reconcile(obj.team)  # its labels may match a blueprint now, or no longer

    @admin.display(description="URL")
    def first_url(self, obj: Cluster) -> str:
        urls = obj.url_list()
        return urls[0] + (f" (+{len(urls) - 1})" if len(urls) > 1 else "") if urls else ""


class BackupSessionConfigInline(TenancyInlineMixin, admin.StackedInline):
    model = BackupSessionConfig
    extra = 0
    filter_horizontal = ["repositories"]
    readonly_fields = ["last_scheduled"]

    def formfield_for_manytomany(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        kwargs["queryset"] = db_field.related_model.objects.for_user(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def formfield_for_foreignkey(self, db_field: Any, request: Any, **kwargs: Any) -> Any:
        kwargs["queryset"] = db_field.related_model.objects.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(BackupConfiguration)
class BackupConfigurationAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "target", "phase", "paused", "schedules", "last_run"]
    list_filter = ["phase", "paused", "team"]
    search_fields = ["name", "target__name"]
    readonly_fields = ["uuid", "phase", "status_message", "blueprint", "blueprint_name", "blueprint_paused", "created"]
    inlines = [BackupSessionConfigInline]

    def get_queryset(self, request: Any) -> Any:
        from django.db.models import Max

        return (
            super().get_queryset(request)
            .select_related("target")
            .prefetch_related("sessions")
            .annotate(last_session=Max("backup_sessions__created"))
        )

    def save_related(self, request: Any, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        flows.configuration_saved(form.instance)

    # A configuration that follows its blueprint is changed through the blueprint (or
    # detached first, on its page): here it is read only, as on the dashboard.
    def has_change_permission(self, request: Any, obj: BackupConfiguration | None = None) -> bool:
        return super().has_change_permission(request, obj) and not (obj is not None and obj.follows_blueprint())

    def has_delete_permission(self, request: Any, obj: BackupConfiguration | None = None) -> bool:
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.follows_blueprint())

    @admin.display(description="schedules")
    def schedules(self, obj: BackupConfiguration) -> str:
        return "; ".join(f"{s.name}: {s.schedule}" for s in obj.sessions.all())

    @admin.display(description="last run", ordering="last_session")
    def last_run(self, obj: BackupConfiguration) -> Any:
        return obj.last_session  # type: ignore[attr-defined]


class SnapshotInline(TenancyInlineMixin, admin.TabularInline):
    model = Snapshot
    extra = 0
    can_delete = False
    fields = ["name", "repository", "phase", "snapshot_id", "total_docs", "size_bytes", "error"]
    readonly_fields = ["name", "repository", "phase", "snapshot_id", "total_docs", "size_bytes", "error"]

    def has_add_permission(self, request: Any, obj: Any = None) -> bool:
        return False


@admin.register(BackupSession)
class BackupSessionAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "configuration", "trigger", "phase", "created", "duration_s"]
    list_filter = ["phase", "trigger", "team", "configuration"]
    search_fields = ["name", "configuration__name", "error"]
    date_hierarchy = "created"
    readonly_fields = [
        "uuid", "name", "phase", "started", "finished", "error", "cancelled_by", "retention", "hook_results", "created",
    ]
    inlines = [SnapshotInline]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("configuration")

    @admin.display(description="duration (s)")
    def duration_s(self, obj: BackupSession) -> str:
        return f"{obj.duration:.1f}" if obj.duration is not None else "-"


@admin.register(Snapshot)
class SnapshotAdmin(TeamScopedAdmin):
    list_display = ["name", "team", "repository", "phase", "snapshot_time", "total_docs", "size", "integrity"]
    list_filter = ["phase", "integrity", "team", "repository"]
    search_fields = ["name", "snapshot_id", "error"]
    date_hierarchy = "created"
    readonly_fields = [
        "uuid", "name", "snapshot_id", "phase", "snapshot_time", "started", "finished", "size_bytes", "uploaded_bytes",
        "total_docs", "total_components", "integrity", "components", "progress", "heartbeat", "cancel_requested_by",
        "error", "created",
    ]

    def get_queryset(self, request: Any) -> Any:
        return super().get_queryset(request).select_related("repository")

    @admin.display(description="size", ordering="size_bytes")
    def size(self, obj: Snapshot) -> str:
        return filesizeformat(obj.size_bytes)


@admin.register(BackupBlueprint)
class BackupBlueprintAdmin(TeamScopedAdmin):
    """Saving reconciles the team's configurations (backups.blueprints); deleting pauses
    the configurations it made (BackupConfiguration.blueprint's on_delete)."""

    list_display = ["name", "team", "configuration_name", "made"]
    list_filter = ["team"]
    search_fields = ["name"]
    readonly_fields = ["uuid", "problems", "created"]

    def save_model(self, request: Any, obj: BackupBlueprint, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        blueprints.reconcile(obj.team)

    @admin.display(description="configurations made")
    def made(self, obj: BackupBlueprint) -> int:
        return obj.configurations.count()
