"""KubeStash-shaped manifests ↔ rows: the shared machinery of the per-app serializer
modules (storage/serializers.py, backups/serializers.py, restores/serializers.py).

`manage.py apply` and `manage.py export` (dashboard/resources.py) use them, and so does
the Kubernetes sync.
Reading is strict: an unknown field or a bad reference is an error that names the
path of the offending field (`doc 2 (BackupStorage team-a/s3): spec.storage.s3.bucket`)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.dateparse import parse_datetime

from tenancy.models import Team

STORAGE_GROUP = "storage.kubestash.com"
CORE_GROUP = "core.kubestash.com"
APPCATALOG_GROUP = "appcatalog.appscode.com"
VERSION = "v1alpha1"
MANAGED_BY = "app.kubernetes.io/managed-by"
DISPLAY_NAME = "stashboard.io/display-name"
DESCRIPTION = "stashboard.io/description"


class ManifestError(Exception):
    def __init__(self, path: str, message: str):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


_MISSING = object()


class Node:
    """A mapping read strictly: every key read is remembered; `done()` refuses the rest."""

    def __init__(self, data: Any, path: str):
        if not isinstance(data, dict):
            raise ManifestError(path, f"expected a mapping, found {type(data).__name__}")
        self.data = data
        self.path = path
        self.seen: set[str] = set()

    def _at(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def has(self, key: str) -> bool:
        self.seen.add(key)
        return key in self.data and self.data[key] is not None

    def get(self, key: str, kind: type | tuple[type, ...] = str, default: Any = _MISSING) -> Any:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None:
            if default is _MISSING:
                raise ManifestError(self._at(key), "required field is missing")
            return default
        value = self.data[key]
        if kind is int and isinstance(value, bool) or not isinstance(value, kind):
            names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            raise ManifestError(self._at(key), f"expected {names}, found {type(value).__name__} {value!r}")
        return value

    def node(self, key: str, required: bool = True) -> Node | None:
        self.seen.add(key)
        if key not in self.data or self.data[key] is None:
            if required:
                raise ManifestError(self._at(key), "required field is missing")
            return None
        return Node(self.data[key], self._at(key))

    def nodes(self, key: str) -> list[Node]:
        self.seen.add(key)
        items = self.data.get(key) or []
        if not isinstance(items, list):
            raise ManifestError(self._at(key), f"expected a list, found {type(items).__name__}")
        return [Node(item, f"{self._at(key)}[{i}]") for i, item in enumerate(items)]

    def ignore(self, *keys: str) -> None:
        self.seen.update(keys)

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self.seen]
        if unknown:
            known = ", ".join(sorted(self.seen))
            raise ManifestError(self._at(unknown[0]), f"unknown field; the fields here are: {known}")

    def ref_name(self, key: str, required: bool = True) -> str | None:
        """A {name, namespace} reference; returns the name."""
        ref = self.node(key, required)
        if ref is None:
            return None
        name = ref.get("name")
        ref.get("namespace", str, "")
        ref.ignore("apiGroup", "kind")
        ref.done()
        return name


def ts(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def parse_ts(node: Node, key: str) -> datetime | None:
    raw = node.get(key, str, None)
    if raw is None:
        return None
    value = parse_datetime(raw)
    if value is None:
        raise ManifestError(node._at(key), f"'{raw}' is not an RFC 3339 time, e.g. 2026-01-31T02:00:00Z")
    return value


def drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    """Leave out None values and empty strings/mappings/lists, as kubectl does."""
    return {k: v for k, v in d.items() if v is not None and v != "" and v != {} and v != []}


def validation_error(path: str, error: ValidationError, fields: dict[str, str]) -> ManifestError:
    """Map a model ValidationError onto the manifest path of its field."""
    if hasattr(error, "error_dict"):
        field, errors = next(iter(error.error_dict.items()))
        where = fields.get(field, field)
        return ManifestError(f"{path}.{where}" if where else path, " ".join(e.messages[0] for e in errors[:1]))
    return ManifestError(path, " ".join(error.messages))


@dataclass
class Kind:
    api_version: str
    kind: str
    export: Callable[..., list[dict[str, Any]]]  # (team) -> manifests
    apply: Callable[..., Any]  # (doc: Node, team, metadata: Node, path) -> object


def metadata(name: str, namespace: str | None, uid: Any = None, annotations: dict[str, str] | None = None,
             labels: dict[str, str] | None = None) -> dict[str, Any]:
    return drop_empty(
        {
            "name": name,
            "namespace": namespace,
            "uid": str(uid) if uid else None,
            "labels": labels or None,
            "annotations": annotations or None,
        }
    )


def condition(kind: str, ok: bool | None, reason: str, message: str = "", when: datetime | None = None) -> dict[str, Any]:
    """A Kubernetes-style condition, derived from the row (so export stays deterministic)."""
    return drop_empty({
        "type": kind,
        "status": "Unknown" if ok is None else ("True" if ok else "False"),
        "reason": reason,
        "message": message,
        "lastTransitionTime": ts(when),
    })


def save_clean(obj: models.Model, path: str, fields: dict[str, str], exclude: list[str] | None = None) -> Any:
    """Validate the row as a form would (`full_clean`), report the first error at its
    manifest path (`fields` maps model field → path), then save."""
    try:
        obj.full_clean(exclude=exclude)
    except ValidationError as e:
        raise validation_error(path, e, fields) from None
    obj.save()
    return obj


def get_or_new(model: Any, team: Team, name: str, uid: str | None) -> Any:
    """The team's row of that name, or a new unsaved one keeping the manifest's uid."""
    obj = model.objects.filter(team=team, name=name).first()
    if obj is None:
        obj = model(team=team, name=name)
        if uid:
            obj.uuid = uid
    return obj


def lookup(model: Any, team: Team, name: str | None, path: str) -> Any:
    """A reference to another of the team's resources, which must exist already."""
    obj = model.objects.filter(team=team, name=name).first()
    if obj is None:
        raise ManifestError(
            path, f"{model._meta.object_name} '{name}' not found in namespace '{team.slug}': "
            "create it first (earlier in the file, or already applied)"
        )
    return obj
