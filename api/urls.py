from __future__ import annotations

from django.urls import path

from api import actions, endpoints, views
from api.http import api

# Importing the two modules registers their operations on `api`.
REGISTERED = (endpoints.router, actions.router)

token_patterns = [
    path("team/tokens/new/", views.token_create, name="token-create"),
    path("team/tokens/<uuid:uuid>/revoke/", views.token_revoke, name="token-revoke"),
]
api_urls = api.urls
