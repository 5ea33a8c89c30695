"""Sign-ins, sign-outs and failed sign-ins, whichever backend handled them (password,
OpenID Connect, the admin's login page)."""
from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from audit.log import Actor, record
from audit.models import Action


def _via(request: Any, user: Any = None) -> str:
    if request is not None and request.path.startswith("/oidc/"):
        return "sso"
    if getattr(user, "backend", "").startswith("sso."):
        return "sso"
    return ""


@receiver(user_logged_in, dispatch_uid="audit-login")
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None:  # Client.force_login in tests, or a login outside a request
        return
    actor = Actor.from_request(request, label=user.get_username(), via=_via(request, user))
    record(Actor(actor.label, actor.via, user.pk, actor.ip, actor.user_agent), None, Action.LOGIN)


@receiver(user_logged_out, dispatch_uid="audit-logout")
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is None or user is None:
        return
    record(Actor.from_request(request, via=_via(request, user)), None, Action.LOGOUT)


@receiver(user_login_failed, dispatch_uid="audit-login-failed")
def _login_failed(sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any) -> None:
    # Only the name typed: `credentials` holds the password too (Django masks it, but
    # it has no place here at all).
    username = str(credentials.get("username") or "")[:150]
    if request is not None and request.path.startswith("/oidc/"):
        return  # sso.views.CallbackView records it, with the reason
    if request is None:
        actor = Actor(label=username or "anonymous", via="command")
    else:
        actor = Actor.from_request(request, label=username or "anonymous", via=_via(request))
    record(actor, None, Action.LOGIN_FAILED, details={"username": username})
