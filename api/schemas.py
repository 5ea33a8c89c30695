"""The OpenAPI shapes: a manifest per kind (as `manage.py export` writes it), lists, errors.

Responses are described by pydantic models. Request bodies are read by the serializers
themselves (so an error names the same field path, with the same words, as `manage.py
apply`), and are documented with a JSON schema of their outline (`manifest_body`)."""
from __future__ import annotations

from typing import Any, Literal

from ninja import Schema
from pydantic import create_model


class ObjectMeta(Schema):
    name: str
    namespace: str
    uid: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None


class FieldError(Schema):
    path: str
    message: str


class Error(Schema):
    detail: str
    errors: list[FieldError] = []


ERRORS: dict[int, Any] = {400: Error, 401: Error, 403: Error, 404: Error, 409: Error}


def manifest_model(kind: str, api_version: str) -> Any:
    fields: dict[str, Any] = {
        "apiVersion": (Literal[api_version], ...),  # type: ignore[valid-type]
        "kind": (Literal[kind], ...),  # type: ignore[valid-type]
        "metadata": (ObjectMeta, ...),
    }
    if kind == "Secret":  # values are never returned: only the type and the key names' owner
        fields["type"] = (str, ...)
    else:
        fields["spec"] = (dict[str, Any], ...)
        fields["status"] = (dict[str, Any] | None, None)
    return create_model(kind, __base__=Schema, **fields)


class ListMeta(Schema):
    remainingItemCount: int = 0  # items after this page: ask again with offset


def list_model(kind: str, item: Any) -> Any:
    fields: dict[str, Any] = {"apiVersion": (Literal["v1"], ...), "kind": (Literal["List"], ...),
                              "metadata": (ListMeta, ...), "items": (list[item], ...)}
    return create_model(f"{kind}List", __base__=Schema, **fields)


def manifest_body(kind: str, api_version: str) -> dict[str, Any]:
    """The outline of a request body; the serializers check the rest."""
    properties: dict[str, Any] = {
        "apiVersion": {"type": "string", "enum": [api_version]},
        "kind": {"type": "string", "enum": [kind]},
        "metadata": {
            "type": "object", "required": ["name"],
            "properties": {"name": {"type": "string"}, "namespace": {"type": "string"},
                           "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                           "annotations": {"type": "object", "additionalProperties": {"type": "string"}}},
        },
    }
    required = ["apiVersion", "kind", "metadata"]
    if kind == "Secret":
        properties["type"] = {"type": "string", "enum": ["Opaque"]}
        properties["stringData"] = {"type": "object", "additionalProperties": {"type": "string"}}
        properties["data"] = {"type": "object", "additionalProperties": {"type": "string"},
                              "description": "base64 of each value"}
    else:
        properties["spec"] = {"type": "object"}
        properties["status"] = {"type": "object", "description": "ignored: the status is Stashboard's"}
        required.append("spec")
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "object", "required": required, "properties": properties}}}}}


def json_body(schema: dict[str, Any], required: bool = False) -> dict[str, Any]:
    return {"requestBody": {"required": required, "content": {"application/json": {"schema": schema}}}}


class IndexEntry(Schema):
    name: str
    docs: int | None = None
    bytes: int | None = None
    duration: float | None = None
    skippedUnchanged: bool | None = None
    mode: str | None = None          # how the backup read it: full | incremental | unchanged
    docsRead: int | None = None
    docsDeleted: int | None = None
    reason: str | None = None        # a full read: why not a delta
    error: str | None = None
    aliases: dict[str, Any] = {}
    settings: dict[str, Any] | None = None
    mappings: dict[str, Any] | None = None


class IndexList(Schema):
    snapshot: str
    snapshotID: str
    items: list[IndexEntry]
    manifestError: str = ""
