"""The audit log in the admin (read only: nobody adds, changes or deletes entries
there), and `AdminRecorder`, which records what the other admin pages change."""
from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from audit.log import form_fields, member_added, member_removed, member_role_changed, record
from audit.models import Action, Entry
from tenancy.admin import AdminAuditHooks
from tenancy.models import Membership


class AdminRecorder(AdminAuditHooks):
    """Installed as tenancy.admin.audit_hooks by AuditConfig.ready(): every save and
    delete made through a TeamScopedAdmin page or the team's members inline."""

    def saved(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        record(request, None, Action.CHANGED if change else Action.CREATED, obj, fields=form_fields(form))

    def deleted(self, request: HttpRequest, obj: Any) -> None:
        record(request, None, Action.DELETED, obj)

    def formset_saved(self, request: HttpRequest, form: Any, formset: Any, old_roles: dict[Any, Any]) -> None:
        if formset.model is Membership:
            for m in formset.new_objects:
                member_added(request, m)
            for m, changed in formset.changed_objects:
                if "role" in changed:
                    member_role_changed(request, m, old_roles.get(m.pk, ""))
            for m in formset.deleted_objects:
                member_removed(request, m)
            return
        # Rows of another inline (a configuration's sessions) are fields of their parent.
        fields = [f"{formset.prefix}.{getattr(o, 'name', o.pk)}.{n}" for o, names in formset.changed_objects for n in names]
        fields += [f"{formset.prefix}.{getattr(o, 'name', o.pk)}" for o in [*formset.new_objects, *formset.deleted_objects]]
        if fields:
            record(request, None, Action.CHANGED, form.instance, fields=fields)


@admin.register(Entry)
class EntryAdmin(admin.ModelAdmin):
    list_display = ["time", "team_label", "actor", "via", "action", "target_kind", "target_name", "ip"]
    list_filter = ["action", "via", "target_kind"]
    search_fields = ["actor", "target_name", "team_label"]
    date_hierarchy = "time"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return Entry.objects.for_user(request.user)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
