"""The API's signals (api/signals.py) written to the audit log: tokens made and revoked
from Team settings, and every write through the API. Connected in ApiConfig.ready(); the
API sits above audit, so it calls audit and audit knows nothing of it."""
from __future__ import annotations

from typing import Any

from audit.log import Actor, Target, record
from audit.models import Action

ACTIONS = {"create": Action.CREATED, "update": Action.CHANGED, "delete": Action.DELETED, "backup": Action.BACKUP_NOW,
           "restore": Action.RESTORE_STARTED, "check": Action.REPOSITORY_CHECK, "verify": Action.VERIFY_NOW,
           "detach": Action.CHANGED}


def _token_target(token: Any) -> Target:
    return Target("ApiToken", f"{token.name} ({token.prefix}…)", None)


def token_created(sender: Any, token: Any, user: Any, request: Any, **kwargs: Any) -> None:
    record(request, token.team, Action.TOKEN_CREATED, _token_target(token), details={"scope": token.scope})


def token_revoked(sender: Any, token: Any, user: Any, request: Any, **kwargs: Any) -> None:
    record(request, token.team, Action.TOKEN_REVOKED, _token_target(token))


def api_action(sender: Any, token: Any, request: Any, action: str, kind: str, name: str, changed: list[str],
               **kwargs: Any) -> None:
    """One entry per write; the actor is the token (its name and prefix) and the user who made it."""
    if action == "cancel":
        what = Action.RESTORE_CANCELLED if kind == "RestoreSession" else Action.BACKUP_CANCELLED
    else:
        what = ACTIONS[action]
    maker = token.created_by.get_username() if token.created_by is not None else "a removed user"
    actor = Actor.from_request(request, label=f"API token {token.name} ({token.prefix}…, made by {maker})", via="api")
    record(actor, token.team, what, Target(kind, name), fields=changed)
