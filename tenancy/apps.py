from __future__ import annotations

from django.apps import AppConfig


class TenancyConfig(AppConfig):
    """The bottom app: teams, memberships, the tenancy queryset, the admin base and the
    strict YAML reader. It imports no other app of the project."""

    name = "tenancy"
    default_auto_field = "django.db.models.BigAutoField"
