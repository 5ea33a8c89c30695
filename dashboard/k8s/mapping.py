"""Which kinds are mirrored, under which API group, into which namespace.

The manifests themselves come from `dashboard.resources.export` (the serializers that
`manage.py export` uses); this module only moves them: the KubeStash API groups are
rewritten to the configured ones, the team's slug to its namespace, and our labels
and annotations are added. `to_stashboard()` undoes it for an edit made on a CR."""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from tenancy.manifests import APPCATALOG_GROUP, CORE_GROUP, MANAGED_BY, STORAGE_GROUP, VERSION

MANAGER = "stashboard"
TEAM_LABEL = "stashboard.io/team"
UID_ANNOTATION = "stashboard.io/uid"
SPEC_HASH_ANNOTATION = "stashboard.io/spec-hash"
# The spec as last written, for a three-way merge of a kubectl edit (see sync.py).
LAST_SPEC_ANNOTATION = "stashboard.io/last-synced-spec"
KUBESTASH_SUFFIX = "kubestash.com"


@dataclass(frozen=True)
class MirroredKind:
    kind: str
    source_group: str  # the group dashboard.resources exports
    plural: str
    accepts_edits: bool = False


# Dependency order (as dashboard.resources.KINDS). Secrets are not mirrored: their values
# must never leave the database, and an empty Secret of the same name would shadow (or
# clash with) the real one that the namespace's workloads use. Namespaces are not created
# either: that needs cluster-wide rights, and the mapping points at namespaces that exist.
KINDS: list[MirroredKind] = [
    MirroredKind("BackupStorage", STORAGE_GROUP, "backupstorages"),
    MirroredKind("RetentionPolicy", STORAGE_GROUP, "retentionpolicies"),
    MirroredKind("AppBinding", APPCATALOG_GROUP, "appbindings"),
    MirroredKind("Repository", STORAGE_GROUP, "repositories"),
    MirroredKind("BackupBlueprint", CORE_GROUP, "backupblueprints"),
    MirroredKind("BackupConfiguration", CORE_GROUP, "backupconfigurations", accepts_edits=True),
    MirroredKind("BackupSession", CORE_GROUP, "backupsessions"),
    MirroredKind("Snapshot", STORAGE_GROUP, "snapshots"),
    MirroredKind("RestoreSession", CORE_GROUP, "restoresessions"),
    MirroredKind("BackupVerifier", CORE_GROUP, "backupverifiers"),
]
BY_KIND = {k.kind: k for k in KINDS}

# Values that belong to the user (task parameters, per-index results, label selectors,
# a blueprint's problems by cluster name): never rewritten.
_OPAQUE_KEYS = {"components", "params", "hooks", "selector", "problems"}


def group_for(source_group: str, suffix: str | None = None) -> str:
    """`storage.kubestash.com` -> `storage.<suffix>`; with the suffix `kubestash.com`,
    KubeStash's own groups (and AppBinding's real `appcatalog.appscode.com`)."""
    suffix = suffix if suffix is not None else settings.K8S_API_GROUP_SUFFIX
    if suffix == KUBESTASH_SUFFIX:
        return source_group
    return f"{source_group.split('.', 1)[0]}.{suffix}"


def api_version(kind: MirroredKind) -> str:
    return f"{group_for(kind.source_group)}/{VERSION}"


def namespace_for(slug: str) -> str:
    return settings.K8S_NAMESPACE_MAP.get(slug) or settings.K8S_NAMESPACE_TEMPLATE.format(slug=slug)


def spec_hash(spec: Any) -> str:
    return hashlib.sha256(canonical(spec).encode()).hexdigest()[:32]


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _rewrite(value: Any, groups: dict[str, str], namespaces: dict[str, str]) -> Any:
    if isinstance(value, list):
        return [_rewrite(v, groups, namespaces) for v in value]
    if not isinstance(value, dict):
        return value
    out = {}
    for key, v in value.items():
        if key in _OPAQUE_KEYS:
            out[key] = v
        elif key == "apiGroup" and isinstance(v, str):
            out[key] = groups.get(v, v)
        elif key == "namespace" and isinstance(v, str):
            out[key] = namespaces.get(v, v)
        else:
            out[key] = _rewrite(v, groups, namespaces)
    return out


def _group_map() -> dict[str, str]:
    return {g: group_for(g) for g in (STORAGE_GROUP, CORE_GROUP, APPCATALOG_GROUP)}


def to_cluster(doc: dict[str, Any], slug: str) -> dict[str, Any]:
    """An exported manifest as the CR we want in the cluster."""
    kind = BY_KIND[doc["kind"]]
    namespace = namespace_for(slug)
    groups, namespaces = _group_map(), {slug: namespace}
    meta = doc["metadata"]
    spec = _rewrite(doc.get("spec") or {}, groups, namespaces)
    annotations = dict(meta.get("annotations") or {})
    if meta.get("uid"):
        # The API server assigns metadata.uid itself; ours travels as an annotation.
        annotations[UID_ANNOTATION] = meta["uid"]
    annotations[SPEC_HASH_ANNOTATION] = spec_hash(spec)
    if kind.accepts_edits:
        annotations[LAST_SPEC_ANNOTATION] = canonical(spec)
    cr: dict[str, Any] = {
        "apiVersion": api_version(kind),
        "kind": kind.kind,
        "metadata": {
            "name": meta["name"],
            "namespace": namespace,
            "labels": {**(meta.get("labels") or {}), MANAGED_BY: MANAGER, TEAM_LABEL: slug},
            "annotations": annotations,
        },
        "spec": spec,
    }
    status = _rewrite(doc.get("status") or {}, groups, namespaces)
    if status:
        cr["status"] = status
    return cr


def to_stashboard(spec: dict[str, Any], slug: str) -> dict[str, Any]:
    """A CR's spec back in the shape `dashboard.resources.apply` reads."""
    groups = {v: k for k, v in _group_map().items()}
    return _rewrite(spec, groups, {namespace_for(slug): slug})


def is_managed(obj: dict[str, Any]) -> bool:
    labels = (obj.get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY) == MANAGER
