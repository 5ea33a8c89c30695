from __future__ import annotations

from django.urls import path

from api import views
from api.http import api

token_patterns = [
    path("team/tokens/new/", views.token_create, name="token-create"),
    path("team/tokens/<uuid:uuid>/revoke/", views.token_revoke, name="token-revoke"),
]
