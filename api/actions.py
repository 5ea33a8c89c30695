"""The actions: back up now, cancel a backup session or a restore, check a repository,
a repository's snapshots, a snapshot's indices, verify now (a BackupVerifier's run). (A restore starts with POST
/restoresessions; "wait for it" is GET …?wait=N on the session or the restore.)"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Query, Router

from api import schemas
from api.endpoints import BY_KIND, LISTS, MODELS, fresh, get_row, manifest, notify, read_body, rows
from api.http import ApiError, api, token_of, writable_token
from api.models import ApiToken
from dashboard.views.snapshots import snapshot_indices

router = Router(tags=["actions"])


def _options(request: HttpRequest, allowed: dict[str, type]) -> dict[str, Any]:
    """An optional JSON object body of a few options, checked like a manifest's fields."""
    raw = read_body(request) if request.body else None
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise ApiError(400, f"expected a JSON object, found {type(raw).__name__}", [{"path": "", "message": "send an object"}])
    for key, value in raw.items():
        kind = allowed.get(key)
        if kind is None:
            raise ApiError(400, f"{key}: unknown field; the fields here are: {', '.join(sorted(allowed))}",
                           [{"path": key, "message": "unknown field"}])
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise ApiError(400, f"{key}: expected {kind.__name__}, found {type(value).__name__} {value!r}",
                           [{"path": key, "message": f"expected {kind.__name__}"}])
    return raw


@router.post("/backupconfigurations/{name}/backup", response={201: MODELS["BackupSession"], **schemas.ERRORS},
             operation_id="backupNow", exclude_none=True,
             summary="Back up now: a BackupSession of one of the configuration's sessions (default: the first by name)",
             openapi_extra=schemas.json_body({"type": "object", "properties": {"session": {"type": "string"}},
                                              "additionalProperties": False}))
def backup_now(request: HttpRequest, name: str) -> Any:
    from backups import flows

    token = writable_token(request)
    config = get_row(BY_KIND["BackupConfiguration"], token, name)
    wanted = _options(request, {"session": str}).get("session")
    session_config = config.sessions.filter(name=wanted).first() if wanted else config.sessions.order_by("name").first()
    if session_config is None:
        names = ", ".join(config.sessions.order_by("name").values_list("name", flat=True)) or "none"
        raise ApiError(400, f"session: configuration '{name}' has no session '{wanted}': use one of {names}",
                       [{"path": "session", "message": f"use one of {names}"}])
    try:
        session = flows.trigger_backup(session_config, trigger="manual", user=f"API token {token.name}")
    except ValidationError as e:
        raise ApiError(409, " ".join(e.messages))
    notify(request, "backup", "BackupSession", session.name)
    return 201, fresh(BY_KIND["BackupSession"], token, session)


@router.post("/backupconfigurations/{name}/detach", response={200: MODELS["BackupConfiguration"], **schemas.ERRORS},
             operation_id="detachBackupConfiguration", exclude_none=True,
             summary="Detach a configuration from the blueprint it was made from: it becomes the team's own, and the "
                     "blueprint no longer changes or pauses it")
def detach_configuration(request: HttpRequest, name: str) -> Any:
    from backups import blueprints

    def detach(config: Any, token: ApiToken) -> None:
        if config.blueprint_id is None:
            raise ApiError(409, f"configuration '{name}' follows no blueprint: there is nothing to detach")
        blueprints.detach(config, None)  # the API's own audit entry (api/audit_log.py) records it

    return _act(request, "BackupConfiguration", name, "detach", detach, changed=["blueprint"])


@router.post("/backupsessions/{name}/cancel", response={200: MODELS["BackupSession"], **schemas.ERRORS},
             operation_id="cancelBackupSession", exclude_none=True,
             summary="Cancel a backup session: pending snapshots at once, running ones at their next batch")
def cancel_session(request: HttpRequest, name: str) -> Any:
    from backups import flows

    return _cancel(request, "BackupSession", name, flows.cancel_session)


@router.post("/restoresessions/{name}/cancel", response={200: MODELS["RestoreSession"], **schemas.ERRORS},
             operation_id="cancelRestoreSession", exclude_none=True,
             summary="Cancel a restore: a pending one at once, a running one at its next batch")
def cancel_restore(request: HttpRequest, name: str) -> Any:
    from restores import flows

    return _cancel(request, "RestoreSession", name, flows.cancel_restore)


def _cancel(request: HttpRequest, kind: str, name: str, cancel: Callable[[Any, str], Any]) -> Any:
    """A session or a restore, cancelled by the request's token: 409 once it has ended."""
    def act(row: Any, token: ApiToken) -> None:
        if row.is_completed():
            raise ApiError(409, f"{kind} '{name}' is already {row.phase}: there is nothing to cancel")
        cancel(row, f"API token {token.name}")

    return _act(request, kind, name, "cancel", act)


def _act(request: HttpRequest, kind: str, name: str, action: str, act: Callable[[Any, ApiToken], None], *,
         changed: list[str] | None = None, status: int = 200) -> Any:
    """One action on one row of the token's team: `act` does it (or refuses with an ApiError), the
    audit log hears of it, and the answer is the row as it stands now."""
    token = writable_token(request)
    res = BY_KIND[kind]
    row = get_row(res, token, name)
    act(row, token)
    notify(request, action, res.kind, name, changed)
    return status, fresh(res, token, row)


@router.post("/repositories/{name}/check", response={202: MODELS["Repository"], **schemas.ERRORS},
             operation_id="checkRepository", exclude_none=True,
             summary="Check a repository (every manifest opens, every chunk is there; readData: also read and verify "
                     "every chunk); the result appears in its status",
             openapi_extra=schemas.json_body({"type": "object", "properties": {"readData": {"type": "boolean"}},
                                              "additionalProperties": False}))
def check_repository(request: HttpRequest, name: str) -> Any:
    from storage import flows

    def check(repo: Any, _token: ApiToken) -> None:
        flows.check_repository(repo, read_data=bool(_options(request, {"readData": bool}).get("readData")))

    return _act(request, "Repository", name, "check", check, status=202)


@router.post("/backupverifiers/{name}/verify", response={202: MODELS["BackupVerifier"], **schemas.ERRORS},
             operation_id="verifyNow", exclude_none=True,
             summary="Verify now: restore the verifier's snapshots (the newest, or each not verified yet) into its "
                     "scratch cluster and check them; status.lastRun follows the run")
def verify_now(request: HttpRequest, name: str) -> Any:
    from restores import flows

    def verify(verifier: Any, _token: ApiToken) -> None:
        if not flows.verify_now(verifier, "manual"):
            raise ApiError(409, f"repository '{verifier.repository.name}' has no successful snapshot left to verify: "
                                "back it up first (or wait for the running verification)")

    return _act(request, "BackupVerifier", name, "verify", verify, status=202)


@router.get("/repositories/{name}/snapshots", response={200: LISTS["Snapshot"], **schemas.ERRORS},
            operation_id="listRepositorySnapshots", exclude_none=True, summary="A repository's snapshots, newest first")
def repository_snapshots(request: HttpRequest, name: str, limit: int = Query(500, ge=1, le=1000),
                         offset: int = Query(0, ge=0)) -> Any:
    token = token_of(request)
    repo = get_row(BY_KIND["Repository"], token, name)
    res = BY_KIND["Snapshot"]
    qs = rows(res, token).filter(repository=repo).order_by("-created", "-pk")
    total = qs.count()
    return {"apiVersion": "v1", "kind": "List", "items": [manifest(res, s) for s in qs[offset:offset + limit]],
            "metadata": {"remainingItemCount": max(0, total - offset - limit)}}


@router.get("/snapshots/{name}/indices", response={200: schemas.IndexList, **schemas.ERRORS},
            operation_id="listSnapshotIndices",
            summary="A snapshot's indices: what the backup recorded, with settings, mappings and aliases from its manifest")
def snapshot_index_list(request: HttpRequest, name: str) -> Any:
    snapshot = get_row(BY_KIND["Snapshot"], token_of(request), name)
    indices, error = snapshot_indices(snapshot)
    renamed = {"skipped_unchanged": "skippedUnchanged", "docs_read": "docsRead", "docs_deleted": "docsDeleted"}
    items = [{renamed.get(k, k): v for k, v in i.items()} for i in indices]
    return {"snapshot": snapshot.name, "snapshotID": snapshot.snapshot_id, "items": items, "manifestError": error}


api.add_router("/", router)
