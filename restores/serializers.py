"""core.kubestash.com RestoreSession ↔ rows."""
from __future__ import annotations

from typing import Any

from backups.addons import elasticsearch as addon
from backups.serializers import CORE_API_VERSION, _target, app_ref
from restores.models import BackupVerifier, RestoreSession
from storage.models import Repository
from tenancy.manifests import ManifestError, Node, condition, drop_empty, get_or_new, lookup, metadata, parse_ts, save_clean, ts
from tenancy.models import Team


def export_restore(obj: RestoreSession) -> dict[str, Any]:
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "RestoreSession",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "target": app_ref(obj.target),
            "dataSource": {
                "repository": obj.repository.name,
                "snapshot": obj.snapshot,
                "encryptionSecret": {"name": obj.repository.encryption_secret.name, "namespace": obj.team.slug},
            },
            "addon": {"name": addon.ADDON_NAME, "tasks": [drop_empty({"name": addon.RESTORE_TASK, "params": obj.task_params or None})]},
            "hooks": obj.hooks or None,
        }),
        "status": drop_empty({
            "phase": obj.phase,
            "snapshotID": obj.resolved_snapshot_id,
            "startTime": ts(obj.started),
            "completionTime": ts(obj.finished),
            "duration": f"{obj.duration:.3f}s" if obj.duration is not None else None,
            "components": obj.components or None,
            "error": obj.error,
            "cancelledBy": obj.cancelled_by,
            "hooks": obj.hook_results or None,
            "conditions": [condition("RestoreCompleted", obj.phase == RestoreSession.Phase.SUCCEEDED, obj.phase, obj.error,
                                     obj.finished)] if obj.is_completed() else None,
        }),
    }


def apply_restore(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> RestoreSession:
    obj = get_or_new(RestoreSession, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    obj.target = _target(spec, team)
    ds = spec.node("dataSource")
    assert ds is not None
    obj.repository = lookup(Repository, team, ds.get("repository"), f"{ds.path}.repository")
    obj.snapshot = ds.get("snapshot", str, "latest")
    ds.ignore("encryptionSecret", "namespace", "components")
    ds.done()
    obj.task_params = {}
    a = spec.node("addon", required=False)
    if a is not None:
        if a.get("name", str, addon.ADDON_NAME) != addon.ADDON_NAME:
            raise ManifestError(f"{a.path}.name", f"unknown addon: use {addon.ADDON_NAME}")
        for t in a.nodes("tasks"):
            if t.get("name") != addon.RESTORE_TASK:
                raise ManifestError(f"{t.path}.name", f"unknown task: the restore task is {addon.RESTORE_TASK}")
            obj.task_params = t.get("params", dict, {})
            t.done()
        a.done()
    obj.hooks = spec.get("hooks", dict, {})
    spec.done()
    status = doc.node("status", required=False)
    if status is not None:
        obj.phase = status.get("phase", str, RestoreSession.Phase.PENDING)
        obj.resolved_snapshot_id = status.get("snapshotID", str, "")
        obj.started = parse_ts(status, "startTime")
        obj.finished = parse_ts(status, "completionTime")
        obj.components = status.get("components", dict, {})
        obj.error = status.get("error", str, "")
        obj.cancelled_by = status.get("cancelledBy", str, "")
        obj.hook_results = status.get("hooks", list, [])
        status.ignore("duration", "conditions")
        status.done()
    return save_clean(obj, doc.path, {"target": "spec.target.name", "task_params": "spec.addon.tasks[0].params",
                                 "hooks": "spec.hooks", "name": "metadata.name"})


# --- BackupVerifier -------------------------------------------------------------

def export_verifier(obj: BackupVerifier) -> dict[str, Any]:
    last = obj.runs.order_by("-created").first()
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "BackupVerifier",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "repository": {"name": obj.repository.name, "namespace": obj.team.slug},
            "scratchTarget": app_ref(obj.target),
            "schedule": obj.schedule,
            "everyNBackups": obj.every_n_backups,
            "snapshots": obj.snapshots,
            "randomDocuments": obj.random_docs or None,
            "queries": obj.queries or None,
            "paused": obj.paused or None,
        }),
        "status": drop_empty({
            "phase": last.phase if last is not None else None,  # of the last run
            "indexPrefix": obj.prefix,
            "lastRun": drop_empty({"phase": last.phase, "snapshotID": last.snapshot.snapshot_id, "trigger": last.trigger,
                                   "startTime": ts(last.started), "completionTime": ts(last.finished),
                                   "error": last.error}) if last is not None else None,
        }),
    }


def apply_verifier(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> BackupVerifier:
    obj = get_or_new(BackupVerifier, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    ref = spec.node("repository")
    assert ref is not None
    ref.get("namespace", str, "")
    obj.repository = lookup(Repository, team, ref.get("name"), f"{ref.path}.name")
    ref.done()
    obj.target = _target(spec, team, "scratchTarget")
    obj.schedule = spec.get("schedule", str, "")
    obj.every_n_backups = spec.get("everyNBackups", int, None)
    obj.snapshots = spec.get("snapshots", str, BackupVerifier.Snapshots.LATEST)
    obj.random_docs = spec.get("randomDocuments", int, 0)
    obj.queries = spec.get("queries", list, [])
    obj.paused = spec.get("paused", bool, False)
    spec.done()
    doc.ignore("status")  # written by the runs
    return save_clean(obj, doc.path, {"repository": "spec.repository.name", "target": "spec.scratchTarget.name",
                                 "schedule": "spec.schedule", "every_n_backups": "spec.everyNBackups",
                                 "snapshots": "spec.snapshots", "random_docs": "spec.randomDocuments",
                                 "queries": "spec.queries", "name": "metadata.name"})
