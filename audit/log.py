"""Writing the audit log: `record()` and the few helpers its callers share.

Callers record in the same transaction as the change, so a change that rolls back
leaves no entry. Field names go in `fields`, never values; `details` holds what an
action was about (a restore's target and indices, a role) and refuses keys that name
secrets, so a slip fails a test instead of storing a password."""
from __future__ import annotations

import getpass
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from audit.models import Action, Entry
from tenancy.models import Team

# Keys that would carry a secret value. Names of keys (`data.PASSWORD` in `fields`) are fine.
SECRET_KEYS = {"password", "passwd", "secret", "token", "api_key", "value", "values", "data", "client_secret"}


@dataclass(frozen=True)
class Actor:
    """Who did it, and from where."""

    label: str
    via: str
    user_id: int | None = None
    ip: str | None = None
    user_agent: str = ""

    @classmethod
    def from_request(cls, request: HttpRequest, *, label: str = "", via: str = "") -> Actor:
        user = getattr(request, "user", None)
        authenticated = bool(getattr(user, "is_authenticated", False))
        path = request.path
        return cls(
            label=label or (user.get_username() if user is not None and authenticated else "anonymous"),
            via=via or ("admin" if path.startswith("/admin/") else "api" if path.startswith("/api/") else "dashboard"),
            user_id=user.pk if user is not None and authenticated else None,
            ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", "")[:300],
        )

    @classmethod
    def command(cls, name: str) -> Actor:
        """A management command: its name and the OS user and host that ran it."""
        try:
            who = getpass.getuser()
        except (KeyError, OSError):  # no passwd entry (a container's arbitrary uid)
            who = "unknown"
        return cls(label=f"manage.py {name} ({who}@{socket.gethostname()})", via="command")

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(label=name, via="scheduler")


@dataclass(frozen=True)
class Target:
    """What an action was about, when it is not a model row (a user, a token)."""

    kind: str
    name: str
    uuid: Any = None


def client_ip(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, or with AUDIT_TRUSTED_PROXIES = n the address the n-th proxy from
    us saw (X-Forwarded-For's n-th entry from the right: the ones left of it are
    whatever the client typed)."""
    hops = getattr(settings, "AUDIT_TRUSTED_PROXIES", 0)
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR") or None


def actor_of(who: Any) -> Actor:
    if isinstance(who, Actor):
        return who
    if isinstance(who, HttpRequest):
        return Actor.from_request(who)
    if isinstance(who, str):
        return Actor(label=who, via="command")
    if getattr(who, "is_authenticated", False):
        return Actor(label=who.get_username(), via="dashboard", user_id=who.pk)
    raise TypeError(f"cannot tell who acted from {type(who).__name__}: pass a request, a user, an Actor or a label")


def _target(obj: Any) -> Target | None:
    if obj is None or isinstance(obj, Target):
        return obj
    if isinstance(obj, Team):  # its slug is what YAML, URLs and the entries' team column name
        return Target("Team", obj.slug, obj.uuid)
    name = getattr(obj, "name", None) or str(obj)
    return Target(type(obj).__name__, str(name), getattr(obj, "uuid", None))


def _check_details(details: Any, path: str = "details") -> None:
    if isinstance(details, dict):
        for key, value in details.items():
            if str(key).lower() in SECRET_KEYS:
                raise ValueError(f"{path}.{key}: the audit log never holds a secret value; record the field's name in fields=")
            _check_details(value, f"{path}.{key}")
    elif isinstance(details, (list, tuple)):
        for i, value in enumerate(details):
            _check_details(value, f"{path}[{i}]")


def record(who: Any, team: Any, action: str, target: Any = None, *, fields: Iterable[str] = (),
           details: dict[str, Any] | None = None) -> Entry:
    """Append one entry. `who`: a request, a user, an Actor (Actor.command("apply")) or
    a label; `team`: the Team it concerns, or None (sign-ins; then the target's team if
    it has one); `action`: an audit.models.Action; `target`: a model row or a Target;
    `fields`: the changed fields' names; `details`: plain JSON, never a secret."""
    if action not in Action.values:
        raise ValueError(f"unknown audit action {action!r}: use one of audit.models.Action")
    details = details or {}
    _check_details(details)
    actor = actor_of(who)
    aim = _target(target)
    if team is None and isinstance(target, Team):
        team = target
    elif team is None and target is not None and not isinstance(target, Target):
        team = getattr(target, "team", None)
    return Entry.objects.create(
        team=team, team_label=team.slug if team is not None else "", actor=actor.label[:200], via=actor.via,
        actor_user_id=actor.user_id, ip=actor.ip, user_agent=actor.user_agent, action=action,
        target_kind=aim.kind if aim else "", target_name=aim.name[:200] if aim else "",
        target_uuid=aim.uuid if aim else None, fields=sorted(set(fields)), details=details,
    )


def form_fields(form: Any) -> list[str]:
    """The names of the fields a form changed. A form whose fields hold secret values
    (a Secret's `values`) says their names itself with `audit_fields()`."""
    if hasattr(form, "audit_fields"):
        return list(form.audit_fields())
    return list(form.changed_data)


def secret_key_fields(changed: dict[str, Any] | Iterable[str], removed: Iterable[str] = ()) -> list[str]:
    """A Secret's changed keys as field names (`data.PASSWORD`): the names, not the values."""
    return [f"data.{k}" for k in changed] + [f"data.{k}" for k in removed]


# -- members and roles ------------------------------------------------------------------
# Small functions, so whichever view or sync changes a membership records it the same way.

def member_added(who: Any, membership: Any) -> Entry:
    return record(who, membership.team, Action.MEMBER_ADDED, Target("User", membership.user.get_username()),
                  details={"role": membership.role})


def member_role_changed(who: Any, membership: Any, old_role: str) -> Entry:
    return record(who, membership.team, Action.MEMBER_ROLE_CHANGED, Target("User", membership.user.get_username()),
                  fields=["role"], details={"role": membership.role, "previous_role": old_role})


def member_removed(who: Any, membership: Any) -> Entry:
    return record(who, membership.team, Action.MEMBER_REMOVED, Target("User", membership.user.get_username()),
                  details={"role": membership.role})
