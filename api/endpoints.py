"""list / get / create / update / delete for every kind, generated from one table.

Bodies and answers are the manifests of `manage.py export` / `apply` (dashboard.resources):
a body goes through the same serializer as a YAML document, so an error names the same
field path with the same words. The token decides the namespace; `metadata.uid` and
`status` in a body are ignored (both are Stashboard's)."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import DataError, IntegrityError, models, transaction
from django.http import HttpRequest
from ninja import Query, Router

from api import schemas, signals
from api.http import ApiError, api, token_of, writable_token
from api.models import ApiToken
from dashboard import deletion, resources
from tenancy.manifests import ManifestError


@dataclass(frozen=True)
class Resource:
    kind: str
    plural: str
    update: bool = True  # PUT; a record made by runs (sessions, snapshots) is read-only
    create: bool = True
    delete: bool = True
    wait: bool = False  # GET ?wait=N: answer once completed (a long poll)
    order: str = "name"

    @property
    def spec(self) -> resources.Kind:
        return resources.BY_KIND[self.kind]


RESOURCES = [
    Resource("Secret", "secrets"),
    Resource("BackupStorage", "backupstorages"),
    Resource("RetentionPolicy", "retentionpolicies"),
    Resource("AppBinding", "appbindings"),
    Resource("Repository", "repositories"),
    Resource("BackupBlueprint", "backupblueprints"),
    Resource("BackupConfiguration", "backupconfigurations"),
    Resource("BackupSession", "backupsessions", update=False, create=False, delete=False, wait=True, order="-created"),
    Resource("Snapshot", "snapshots", update=False, create=False, delete=False, order="-created"),
    Resource("RestoreSession", "restoresessions", update=False, wait=True, order="-created"),
    Resource("BackupVerifier", "backupverifiers"),
]
BY_KIND = {r.kind: r for r in RESOURCES}
MODELS = {r.kind: schemas.manifest_model(r.kind, r.spec.api_version) for r in RESOURCES}
LISTS = {r.kind: schemas.list_model(r.kind, MODELS[r.kind]) for r in RESOURCES}


def rows(res: Resource, token: ApiToken) -> Any:
    """The one place that scopes the API to the token's team."""
    return resources.queryset(res.spec, [token.team])


def get_row(res: Resource, token: ApiToken, name: str) -> Any:
    obj = rows(res, token).filter(name=name).first()
    if obj is None:
        raise ApiError(404, f"{res.kind} '{name}' not found in namespace '{token.team.slug}'")
    return obj


def manifest(res: Resource, obj: Any) -> dict[str, Any]:
    return resources.to_manifest(res.spec, obj)


def fresh(res: Resource, token: ApiToken, obj: Any) -> dict[str, Any]:
    return manifest(res, rows(res, token).get(pk=obj.pk))


def notify(request: HttpRequest, action: str, kind: str, name: str, changed: list[str] | None = None) -> None:
    signals.api_action.send(sender=ApiToken, token=token_of(request), request=request, action=action, kind=kind, name=name,
                            changed=changed or [])


def read_body(request: HttpRequest) -> Any:
    try:
        return json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError) as e:
        raise ApiError(400, f"the body is not JSON ({e}): send a JSON document with Content-Type: application/json")


def _prepared(res: Resource, raw: Any, token: ApiToken, name: str | None = None) -> dict[str, Any]:
    try:
        kind = resources.check_header(raw)
    except ManifestError as e:
        raise ApiError.invalid(e)
    if kind != res.kind:
        raise ApiError.invalid(ManifestError("kind", f"'{kind}' does not belong at /api/v1/{res.plural}: send a {res.kind}"))
    doc = {k: v for k, v in raw.items() if k != "status"}
    meta = raw.get("metadata")
    if isinstance(meta, dict):
        slug = token.team.slug
        namespace = meta.get("namespace")
        if namespace not in (None, "", slug):
            raise ApiError(404, f"namespace '{namespace}' not found: this token belongs to '{slug}' (leave metadata.namespace out)",
                           [{"path": "metadata.namespace", "message": f"use '{slug}' or leave it out"}])
        if name is not None and meta.get("name") != name:
            raise ApiError.invalid(ManifestError("metadata.name", f"'{meta.get('name')}' is not the name in the URL ('{name}'): "
                                                                  "a resource cannot be renamed"))
        doc["metadata"] = {**{k: v for k, v in meta.items() if k != "uid"}, "namespace": slug}
    return doc


def save(res: Resource, doc: dict[str, Any]) -> Any:
    name = doc["metadata"].get("name") if isinstance(doc.get("metadata"), dict) else None
    try:
        with transaction.atomic():
            _, obj = resources.apply_one(doc)
            resources.start_flows([obj])
    except ManifestError as e:
        raise ApiError.invalid(e)
    except IntegrityError:
        raise ApiError(409, f"{res.kind} '{name}' was changed by someone else at the same time: read it again and retry")
    except DataError as e:  # a number or text the database cannot hold (the serializers check types, not sizes)
        raise ApiError(400, f"a value does not fit: {str(e).splitlines()[0]}", [{"path": "spec", "message": str(e).splitlines()[0]}])
    return obj


def changed_fields(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    keys = set(before.get("spec", {})) | set(after.get("spec", {}))
    return sorted(f"spec.{k}" for k in keys if before.get("spec", {}).get(k) != after.get("spec", {}).get(k))


def wait_until_completed(res: Resource, token: ApiToken, obj: Any, wait: int) -> Any:
    deadline = time.monotonic() + min(wait, settings.API_MAX_WAIT)
    while not obj.is_completed() and time.monotonic() < deadline:
        time.sleep(min(settings.API_WAIT_POLL, max(0.0, deadline - time.monotonic())))
        obj = rows(res, token).get(pk=obj.pk)
    return obj


def _register_reads(router: Router, res: Resource) -> None:
    model, list_ = MODELS[res.kind], LISTS[res.kind]
    one = f"/{res.plural}/{{name}}"

    def list_view(request: HttpRequest, limit: int = Query(500, ge=1, le=1000), offset: int = Query(0, ge=0)) -> Any:
        qs = rows(res, token_of(request)).order_by(res.order, "pk")
        total = qs.count()
        return {"apiVersion": "v1", "kind": "List", "items": [manifest(res, o) for o in qs[offset:offset + limit]],
                "metadata": {"remainingItemCount": max(0, total - offset - limit)}}

    router.add_api_operation(f"/{res.plural}", ["GET"], list_view, response={200: list_, **schemas.ERRORS},
                             operation_id=f"list{res.kind}", exclude_none=True, summary=f"List the team's {res.kind} resources")

    if res.wait:
        def get_view(request: HttpRequest, name: str, wait: int = Query(
                0, ge=0, le=60, description="seconds to wait for it to complete (Succeeded, Failed, …); answers at once "
                                            "when it is, or when the time is up, with the phase it has then")) -> Any:
            token = token_of(request)
            return manifest(res, wait_until_completed(res, token, get_row(res, token, name), wait))
    else:
        def get_view(request: HttpRequest, name: str) -> Any:  # type: ignore[misc]
            return manifest(res, get_row(res, token_of(request), name))

    router.add_api_operation(one, ["GET"], get_view, response={200: model, **schemas.ERRORS},
                             operation_id=f"get{res.kind}", summary=f"Get a {res.kind}", exclude_none=True)


def _register_writes(router: Router, res: Resource) -> None:
    model = MODELS[res.kind]
    one = f"/{res.plural}/{{name}}"
    if res.create:
        def create_view(request: HttpRequest) -> Any:
            token = writable_token(request)
            doc = _prepared(res, read_body(request), token)
            name = doc["metadata"].get("name") if isinstance(doc.get("metadata"), dict) else None
            if isinstance(name, str) and rows(res, token).filter(name=name).exists():
                raise ApiError(409, f"{res.kind} '{name}' already exists in namespace '{token.team.slug}': "
                                    f"PUT /api/v1/{res.plural}/{name} changes it")
            obj = save(res, doc)
            notify(request, "restore" if res.kind == "RestoreSession" else "create", res.kind, obj.name)
            return 201, fresh(res, token, obj)

        router.add_api_operation(f"/{res.plural}", ["POST"], create_view, response={201: model, **schemas.ERRORS},
                                 operation_id=f"create{res.kind}", exclude_none=True,
                                 summary=f"Create a {res.kind}" + (" (starts the restore)" if res.kind == "RestoreSession" else ""),
                                 openapi_extra=schemas.manifest_body(res.kind, res.spec.api_version))

    if res.update:
        def update_view(request: HttpRequest, name: str) -> Any:
            token = writable_token(request)
            before = get_row(res, token, name)
            old = manifest(res, before)
            old_values = before.get_data() if res.kind == "Secret" else {}
            obj = save(res, _prepared(res, read_body(request), token, name))
            new = fresh(res, token, obj)
            if res.kind == "Secret":
                values = rows(res, token).get(pk=obj.pk).get_data()
                changed = sorted(f"data.{k}" for k in set(values) | set(old_values) if values.get(k) != old_values.get(k))
            else:
                changed = changed_fields(old, new)
            notify(request, "update", res.kind, name, changed)
            return new

        router.add_api_operation(one, ["PUT"], update_view, response={200: model, **schemas.ERRORS},
                                 operation_id=f"update{res.kind}", summary=f"Replace a {res.kind}'s spec", exclude_none=True,
                                 openapi_extra=schemas.manifest_body(res.kind, res.spec.api_version))

    if res.delete:
        def delete_view(request: HttpRequest, name: str) -> Any:
            token = writable_token(request)
            obj = get_row(res, token, name)
            blockers = deletion.blockers(obj)
            if blockers:
                raise ApiError(409, " ".join(blockers))
            try:
                with transaction.atomic():
                    gone = deletion.perform(obj)
            except (models.RestrictedError, models.ProtectedError) as e:
                users = sorted({str(o) for o in getattr(e, "restricted_objects", getattr(e, "protected_objects", []))})[:5]
                raise ApiError(409, f"'{name}' is still used by {', '.join(users)}: remove or change those first.")
            notify(request, "delete", res.kind, name)
            if gone:
                return 204, None
            return 202, fresh(res, token, obj)

        router.add_api_operation(one, ["DELETE"], delete_view, response={204: None, 202: model, **schemas.ERRORS},
                                 operation_id=f"delete{res.kind}", exclude_none=True,
                                 summary=f"Delete a {res.kind} (202 while deletionPolicy WipeOut removes its files)")


router = Router(tags=["resources"])
for _res in RESOURCES:
    _register_reads(router, _res)
    _register_writes(router, _res)
api.add_router("/", router)
