from __future__ import annotations

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit import signals  # noqa: F401  (sign-in, sign-out and failed sign-in receivers)
        from audit.admin import AdminRecorder
        from tenancy import admin as tenancy_admin

        tenancy_admin.audit_hooks = AdminRecorder()
