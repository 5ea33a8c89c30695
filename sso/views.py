"""The OpenID Connect endpoints (mozilla-django-oidc's views): 404 while single sign-on
is not configured; a failed or refused sign-in goes to the audit log and back to the
sign-in page saying why."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from audit.log import Actor, record
from audit.models import Action


class CallbackView(OIDCAuthenticationCallbackView):
    def login_failure(self) -> HttpResponse:
        request = self.request
        username, reason = getattr(request, "sso_refusal", ("", ""))
        if not reason:
            error = request.GET.get("error", "")
            reason = (f"the provider answered {error}: {request.GET.get('error_description', '')}".rstrip(": ")
                      if error else "the provider's answer did not verify (state, token or signature)")
        record(Actor.from_request(request, label=username or "anonymous", via="sso"), None, Action.LOGIN_FAILED,
               details={"username": username, "reason": reason})
        messages.error(request, f"Single sign-on failed: {reason}.")
        return redirect("dashboard:login")


def _enabled(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not settings.OIDC_ENABLED:
            raise Http404("Single sign-on is not configured (OIDC_RP_CLIENT_ID).")
        return view(request, *args, **kwargs)

    return wrapped


authenticate = _enabled(OIDCAuthenticationRequestView.as_view())
callback = _enabled(CallbackView.as_view())


def admin_login(request: HttpRequest) -> HttpResponse:
    """With OIDC_ONLY the admin's password form is not offered: sign in through the dashboard."""
    from django.contrib import admin

    if settings.OIDC_ONLY:
        return redirect(reverse("dashboard:login") + "?" + urlencode({"next": request.GET.get("next", "/admin/")}))
    return admin.site.login(request)
