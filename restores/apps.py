from __future__ import annotations

from django.apps import AppConfig


class RestoresConfig(AppConfig):
    name = "restores"
    default_auto_field = "django.db.models.BigAutoField"
