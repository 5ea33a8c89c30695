from __future__ import annotations

from typing import Any

from tests.k8s.emulator import EmulatedAPI

PLURALS = {
    "BackupStorage": "storage.stashboard.io/v1alpha1/backupstorages",
    "RetentionPolicy": "storage.stashboard.io/v1alpha1/retentionpolicies",
    "AppBinding": "appcatalog.stashboard.io/v1alpha1/appbindings",
    "Repository": "storage.stashboard.io/v1alpha1/repositories",
    "BackupBlueprint": "core.stashboard.io/v1alpha1/backupblueprints",
    "BackupConfiguration": "core.stashboard.io/v1alpha1/backupconfigurations",
    "BackupSession": "core.stashboard.io/v1alpha1/backupsessions",
    "Snapshot": "storage.stashboard.io/v1alpha1/snapshots",
    "RestoreSession": "core.stashboard.io/v1alpha1/restoresessions",
}


def objects(api: EmulatedAPI, namespace: str | None = None) -> dict[tuple[str, str, str], dict[str, Any]]:
    """Every live custom object in the emulator, by (kind, namespace, name)."""
    found = {}
    for (_resource, ns, name), obj in list(api.emulator.objects.items()):
        if obj.deleted or ns is None or (namespace is not None and ns != namespace):
            continue
        raw = obj.raw
        found[(raw["kind"], ns, name)] = raw
    return found


def writes(api: EmulatedAPI, since: int = 0) -> list[tuple[str, str]]:
    """(method, path) of every create, patch and delete served after request number `since`."""
    return [(str(r.method.value), r.url.path) for r in api.requests[since:]
            if str(r.method.value) in ("POST", "PATCH", "PUT", "DELETE")]
