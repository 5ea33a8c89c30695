from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from tenancy.models import WRITE_ROLES, Membership, Team


class AdminAuditHooks:
    """What the admin pages tell the audit log. The audit app, above tenancy, installs
    its recorder here in AuditConfig.ready(): tenancy imports nothing above it."""

    def saved(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        pass

    def deleted(self, request: HttpRequest, obj: Any) -> None:
        pass

    def formset_saved(self, request: HttpRequest, form: Any, formset: Any, old_roles: dict[Any, Any]) -> None:
        pass


audit_hooks = AdminAuditHooks()


class AuditedAdmin(admin.ModelAdmin):
    """Every save and delete made through this admin page (inline rows too) goes to `audit_hooks`."""

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        super().save_model(request, obj, form, change)
        audit_hooks.saved(request, obj, form, change)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit_hooks.deleted(request, obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet) -> None:
        for obj in queryset:
            audit_hooks.deleted(request, obj)
        super().delete_queryset(request, queryset)

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        # the roles before the save: a role change is recorded with the one it replaced
        old_roles = {f.instance.pk: f.initial.get("role") for f in formset.initial_forms if f.instance.pk}
        super().save_formset(request, form, formset, change)
        audit_hooks.formset_saved(request, form, formset, old_roles)


class TeamScopedRelatedFilter(admin.RelatedFieldListFilter):
    """A "By team" / "By repository" list filter offering only what the user may see:
    Django's own filter lists every row of the related model, other teams' names included."""

    def field_choices(self, field: Any, request: HttpRequest, model_admin: Any) -> Any:
        related = field.related_model
        visible = related.objects.for_user(request.user).values("pk")
        ordering = self.field_admin_ordering(field, request, model_admin)
        return field.get_choices(include_blank=False, limit_choices_to={"pk__in": visible}, ordering=ordering)


class TeamScopedAdmin(AuditedAdmin):
    """Admin pages go through the same tenancy queryset as the dashboard: staff who
    are not superusers see their teams' rows, and change them only as owner or operator.
    Every save and delete goes to the audit log (AuditedAdmin)."""

    team_field = "team"
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return self.model.objects.for_user(request.user).select_related(self.team_field)

    def get_list_filter(self, request: HttpRequest) -> Any:
        scoped = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if field.is_relation and hasattr(field.related_model.objects, "for_user"):
                    item = (item, TeamScopedRelatedFilter)
            scoped.append(item)
        return scoped

    def _writable(self, request: HttpRequest, obj: Any = None) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return Membership.objects.filter(user_id=request.user.pk or 0, role__in=WRITE_ROLES).exists()
        return self.model.objects.writable_by(request.user).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_staff and self._writable(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and self._writable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_staff and self._writable(request, obj)

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if related is Team:
            qs = Team.objects.for_user(request.user)
            if not request.user.is_superuser:
                qs = qs.filter(memberships__user=request.user, memberships__role__in=WRITE_ROLES)
            kwargs["queryset"] = qs
        elif hasattr(related.objects, "for_user"):
            kwargs["queryset"] = related.objects.for_user(request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        related = db_field.related_model
        if hasattr(related.objects, "for_user"):
            kwargs["queryset"] = related.objects.for_user(request.user)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class TenancyInlineMixin:
    """Inline rows are part of their parent: whoever may change the parent (by team role,
    not by Django model permissions, which our users do not carry) may change them."""

    def _parent_writable(self, request: HttpRequest, obj: Any) -> bool:
        if request.user.is_superuser:
            return True
        if obj is None:
            return Membership.objects.filter(user_id=request.user.pk or 0, role__in=WRITE_ROLES).exists()
        return type(obj).objects.writable_by(request.user).filter(pk=obj.pk).exists()

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_writable(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_writable(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._parent_writable(request, obj)


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 1
    autocomplete_fields = ["user"]

    def _owner(self, request: HttpRequest, obj: Any) -> bool:
        return bool(request.user.is_superuser or (obj is not None and obj.role_of(request.user) == Membership.Role.OWNER))

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return self._owner(request, obj)


@admin.register(Team)
class TeamAdmin(AuditedAdmin):
    list_display = ["name", "slug", "member_count", "created"]
    search_fields = ["name", "slug"]
    readonly_fields = ["uuid", "created"]
    inlines = [MembershipInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        from django.db.models import Count

        return Team.objects.for_user(request.user).annotate(n_members=Count("memberships"))

    @admin.display(description="members", ordering="n_members")
    def member_count(self, obj: Team) -> int:
        return obj.n_members  # type: ignore[attr-defined]

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_staff

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Owners manage their team's members.
        if request.user.is_superuser:
            return True
        return obj is not None and obj.role_of(request.user) == Membership.Role.OWNER

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser
