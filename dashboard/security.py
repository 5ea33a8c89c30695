"""The client address for throttling failed sign-ins (django-axes' AXES_CLIENT_IP_CALLABLE).

Behind STASHBOARD_TRUSTED_PROXIES reverse proxies, REMOTE_ADDR is the nearest proxy: the
client is the entry that many places from the right of X-Forwarded-For (each proxy
appends the address it received from; entries further left are the client's to forge)."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest, *args: Any) -> str:
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    chain = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    return chain[-proxies] if len(chain) >= proxies else (chain[0] if chain else remote)
