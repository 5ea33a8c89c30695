"""CustomResourceDefinitions for the mirrored kinds, in KubeStash's shape.

`deploy/crds/*.yaml` are written from here (`manage.py k8s_sync --write-crds deploy/crds`,
checked for drift by tests/k8s/test_k8s_setup.py). The schemas hold the fields Stashboard writes
and keep the rest (`x-kubernetes-preserve-unknown-fields`): the serializers, not these
schemas, are the reference for the shape. Status is a subresource, as in KubeStash,
so `kubectl edit` of a spec cannot change a phase."""
from __future__ import annotations

import json
from typing import Any

from dashboard.k8s.mapping import KINDS, MirroredKind, group_for
from tenancy.manifests import VERSION

_OPEN = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}

_CONDITION = {
    "type": "object",
    "required": ["type", "status"],
    "properties": {
        "type": {"type": "string"},
        "status": {"type": "string"},
        "reason": {"type": "string"},
        "message": {"type": "string"},
        "observedGeneration": {"type": "integer"},
        "lastTransitionTime": {"type": "string", "format": "date-time"},
    },
}

_STATUS = {
    "type": "object",
    "x-kubernetes-preserve-unknown-fields": True,
    "properties": {
        "phase": {"type": "string"},
        "reason": {"type": "string"},
        "error": {"type": "string"},
        "conditions": {"type": "array", "items": _CONDITION},
        # Per index: docs, bytes, duration, skipped-unchanged, error (DESIGN.md §1).
        "components": _OPEN,
    },
}

_SHORT_NAMES = {
    "BackupStorage": ["bs"], "RetentionPolicy": ["rp"], "Repository": ["repo"], "Snapshot": ["snap"],
    "BackupConfiguration": ["bc"], "BackupSession": ["bks"], "RestoreSession": ["rs"], "AppBinding": ["ab"],
    "BackupBlueprint": ["bb"], "BackupVerifier": ["bv"],
}

_COLUMNS: dict[str, list[dict[str, Any]]] = {
    "BackupStorage": [{"name": "Provider", "type": "string", "jsonPath": ".spec.storage.provider"},
                      {"name": "Default", "type": "boolean", "jsonPath": ".spec.default"}],
    "Repository": [{"name": "Storage", "type": "string", "jsonPath": ".spec.storageRef.name"},
                   {"name": "Snapshots", "type": "integer", "jsonPath": ".status.snapshotCount"}],
    "Snapshot": [{"name": "Repository", "type": "string", "jsonPath": ".spec.repository"},
                 {"name": "Size", "type": "integer", "jsonPath": ".status.size"}],
    "BackupConfiguration": [{"name": "Paused", "type": "boolean", "jsonPath": ".spec.paused"}],
    "BackupBlueprint": [{"name": "Configuration", "type": "string", "jsonPath": ".spec.configurationName"}],
    "BackupSession": [{"name": "Invoker", "type": "string", "jsonPath": ".spec.invoker.name"},
                      {"name": "Duration", "type": "string", "jsonPath": ".status.duration"}],
    "RestoreSession": [{"name": "Repository", "type": "string", "jsonPath": ".spec.dataSource.repository"},
                       {"name": "Duration", "type": "string", "jsonPath": ".status.duration"}],
    "BackupVerifier": [{"name": "Repository", "type": "string", "jsonPath": ".spec.repository.name"},
                       {"name": "Scratch", "type": "string", "jsonPath": ".spec.scratchTarget.name"}],
    "AppBinding": [{"name": "Type", "type": "string", "jsonPath": ".spec.type"},
                   {"name": "Version", "type": "string", "jsonPath": ".status.version"}],
}


def crd(kind: MirroredKind, suffix: str | None = None) -> dict[str, Any]:
    group = group_for(kind.source_group, suffix)
    columns = list(_COLUMNS.get(kind.kind, []))
    if kind.kind not in ("AppBinding", "BackupBlueprint"):  # no phase of their own
        columns.append({"name": "Phase", "type": "string", "jsonPath": ".status.phase"})
    columns.append({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": f"{kind.plural}.{group}",
            "labels": {"app.kubernetes.io/name": "stashboard", "app.kubernetes.io/part-of": "stashboard"},
        },
        "spec": {
            "group": group,
            "scope": "Namespaced",
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.kind.lower(),
                "shortNames": _SHORT_NAMES[kind.kind],
                "categories": ["stashboard"],
            },
            "versions": [{
                "name": VERSION,
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "additionalPrinterColumns": columns,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "description": f"{kind.kind} mirrored by Stashboard (KubeStash's shape); the database is the truth.",
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": _OPEN,
                        "status": _STATUS,
                    },
                }},
            }],
        },
    }


def all_crds(suffix: str | None = None) -> list[dict[str, Any]]:
    # A JSON round trip: fresh dicts, so YAML writes no anchors for the shared pieces.
    return json.loads(json.dumps([crd(k, suffix) for k in KINDS]))
