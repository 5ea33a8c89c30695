from __future__ import annotations

from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "api"
    verbose_name = "HTTP API"

    def ready(self) -> None:
        from api import audit_log, signals

        signals.token_created.connect(audit_log.token_created, dispatch_uid="audit-token-created")
        signals.token_revoked.connect(audit_log.token_revoked, dispatch_uid="audit-token-revoked")
        signals.api_action.connect(audit_log.api_action, dispatch_uid="audit-api-action")
