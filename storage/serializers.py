"""storage.kubestash.com manifests (BackupStorage, RetentionPolicy, Repository) and
v1 Secret ↔ rows. Snapshot lives in backups/serializers.py with its row."""
from __future__ import annotations

import base64
import binascii
from typing import Any

from django.core.exceptions import ValidationError

from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from storage.validators import normalize_directory
from tenancy.manifests import (
    DESCRIPTION,
    STORAGE_GROUP,
    VERSION,
    ManifestError,
    Node,
    condition,
    drop_empty,
    get_or_new,
    lookup,
    metadata,
    parse_ts,
    save_clean,
    ts,
)
from tenancy.models import Team

API_VERSION = f"{STORAGE_GROUP}/{VERSION}"


# --- Secret ---------------------------------------------------------------

def export_secret(obj: Secret, include_values: bool = False) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid, {DESCRIPTION: obj.description} if obj.description else None),
        "type": "Opaque",
    }
    if include_values:
        doc["data"] = {k: base64.b64encode(v.encode()).decode() for k, v in sorted(obj.get_data().items())}
    return doc


def apply_secret(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> Secret:
    obj = get_or_new(Secret, team, name, uid)
    annotations = meta.node("annotations", required=False)
    obj.description = (annotations.data.get(DESCRIPTION, "") if annotations else "") or ""
    if doc.get("type", str, "Opaque") != "Opaque":
        raise ManifestError(f"{doc.path}.type", "only Opaque secrets are supported")
    values: dict[str, str] = {}
    data = doc.node("data", required=False)
    if data is not None:
        for key, raw in data.data.items():
            data.seen.add(key)
            try:
                values[key] = base64.b64decode(str(raw), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                # Never echo the value.
                raise ManifestError(f"{data.path}.{key}", "is not base64 of UTF-8 text: encode it, or use stringData") from None
    string_data = doc.node("stringData", required=False)
    if string_data is not None:
        for key, value in string_data.data.items():
            string_data.seen.add(key)
            values[key] = str(value)
    if values:
        try:
            obj.update_data(values)
        except ValidationError as e:
            raise ManifestError(f"{doc.path}.data", e.messages[0]) from None
    return save_clean(obj, doc.path, {"name": "metadata.name"})


# --- BackupStorage --------------------------------------------------------

def export_storage(obj: BackupStorage) -> dict[str, Any]:
    p = obj.provider
    secret = obj.secret.name if obj.secret is not None else None
    if p == "s3":
        backend = {"bucket": obj.bucket, "prefix": obj.prefix, "endpoint": obj.endpoint, "region": obj.region,
                   "secretName": secret, "insecureTLS": obj.insecure_tls or None,
                   "forcePathStyle": obj.path_style or None, "caBundle": obj.ca_bundle}
    elif p == "gcs":
        backend = {"bucket": obj.bucket, "prefix": obj.prefix, "endpoint": obj.endpoint, "secretName": secret}
    elif p == "azure":
        backend = {"storageAccount": obj.storage_account, "container": obj.bucket, "prefix": obj.prefix,
                   "endpoint": obj.endpoint, "secretName": secret}
    else:
        backend = {"mountPath": obj.mount_path}
    return {
        "apiVersion": API_VERSION,
        "kind": "BackupStorage",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "storage": {"provider": p, p: drop_empty(backend)},
            "usagePolicy": {"allowedNamespaces": {"from": "Same"}},
            "default": obj.default,
            "deletionPolicy": obj.deletion_policy,
        }),
        "status": drop_empty({
            "phase": obj.phase,
            "reason": obj.status_message,
            "totalSize": obj.total_size,
            "lastInitialized": ts(obj.last_initialized),
            "conditions": [condition("StorageInitialized", obj.is_ready(),
                                     "Initialized" if obj.is_ready() else "NotInitialized",
                                     obj.status_message, obj.last_initialized)],
        }),
    }


_STORAGE_FIELDS = {"bucket": "spec.storage.*.bucket", "prefix": "spec.storage.*.prefix", "endpoint": "spec.storage.*.endpoint",
                   "mount_path": "spec.storage.local.mountPath", "storage_account": "spec.storage.azure.storageAccount",
                   "secret": "spec.storage.*.secretName", "name": "metadata.name"}


def apply_storage(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> BackupStorage:
    obj = get_or_new(BackupStorage, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    storage = spec.node("storage")
    assert storage is not None
    provider = storage.get("provider")
    if provider not in BackupStorage.Provider.values:
        raise ManifestError(f"{storage.path}.provider", f"'{provider}' unknown: use s3, gcs, azure or local")
    obj.provider = provider
    b = storage.node(provider)
    assert b is not None
    obj.bucket = b.get("container" if provider == "azure" else "bucket", str, "") if provider != "local" else ""
    obj.prefix = b.get("prefix", str, "") if provider != "local" else ""
    obj.endpoint = b.get("endpoint", str, "") if provider != "local" else ""
    obj.region = b.get("region", str, "") if provider == "s3" else ""
    obj.path_style = b.get("forcePathStyle", bool, False) if provider == "s3" else False
    obj.insecure_tls = b.get("insecureTLS", bool, False) if provider == "s3" else False
    obj.ca_bundle = b.get("caBundle", str, "") if provider == "s3" else ""
    obj.storage_account = b.get("storageAccount", str, "") if provider == "azure" else ""
    obj.mount_path = b.get("mountPath", str, "") if provider == "local" else ""
    if provider == "local":
        b.ignore("subPath", "volumeSource")
    secret_name = b.get("secretName", str, None) if provider != "local" else None
    obj.secret = lookup(Secret, team, secret_name, f"{b.path}.secretName") if secret_name else None
    b.done()
    storage.done()
    obj.default = spec.get("default", bool, False)
    obj.deletion_policy = spec.get("deletionPolicy", str, "Delete")
    usage = spec.node("usagePolicy", required=False)
    if usage is not None:
        allowed = usage.node("allowedNamespaces", required=False)
        if allowed is not None and allowed.get("from", str, "Same") != "Same":
            raise ManifestError(f"{allowed.path}.from", "only 'Same' is supported: a storage belongs to one team")
        if allowed is not None:
            allowed.done()
        usage.done()
    spec.done()
    status = doc.node("status", required=False)
    if status is not None:
        obj.phase = status.get("phase", str, BackupStorage.Phase.NOT_READY)
        obj.status_message = status.get("reason", str, "")
        obj.total_size = status.get("totalSize", int, 0)
        obj.last_initialized = parse_ts(status, "lastInitialized")
        status.ignore("conditions")  # derived from the fields above
        status.done()
    return save_clean(obj, doc.path, _STORAGE_FIELDS)


# --- RetentionPolicy ------------------------------------------------------

_KEEP = {"last": "keep_last", "hourly": "keep_hourly", "daily": "keep_daily", "weekly": "keep_weekly",
         "monthly": "keep_monthly", "yearly": "keep_yearly"}


def export_retention(obj: RetentionPolicy) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "RetentionPolicy",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "maxRetentionPeriod": obj.max_retention_period,
            "successfulSnapshots": drop_empty({k: getattr(obj, f) for k, f in _KEEP.items()}),
            "failedSnapshots": drop_empty({"last": obj.failed_keep_last}),
            "usagePolicy": {"allowedNamespaces": {"from": "Same"}},
            "default": obj.default or None,
        }),
    }


def apply_retention(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> RetentionPolicy:
    obj = get_or_new(RetentionPolicy, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    obj.max_retention_period = spec.get("maxRetentionPeriod", str, "")
    ok = spec.node("successfulSnapshots", required=False)
    for key, field in _KEEP.items():
        setattr(obj, field, ok.get(key, int, None) if ok else None)
    if ok:
        ok.done()
    failed = spec.node("failedSnapshots", required=False)
    obj.failed_keep_last = failed.get("last", int, None) if failed else None
    if failed:
        failed.done()
    spec.ignore("usagePolicy")
    obj.default = spec.get("default", bool, False)
    spec.done()
    fields = {"max_retention_period": "spec.maxRetentionPeriod", "__all__": "spec.successfulSnapshots"}
    fields.update({f: f"spec.successfulSnapshots.{k}" for k, f in _KEEP.items()})
    return save_clean(obj, doc.path, fields)


# --- Repository -----------------------------------------------------------

def export_repository(obj: Repository, app_ref: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": API_VERSION,
        "kind": "Repository",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "appRef": app_ref,
            "storageRef": {"name": obj.storage.name, "namespace": obj.team.slug},
            "path": obj.directory,
            "encryptionSecret": {"name": obj.encryption_secret.name, "namespace": obj.team.slug},
            "deletionPolicy": obj.deletion_policy,
        }),
        "status": drop_empty({
            "phase": obj.phase,
            "reason": obj.status_message,
            "repositoryID": obj.repository_id,
            "size": obj.size_bytes,
            "snapshotCount": obj.snapshot_count,
            "lastBackupTime": ts(obj.last_backup),
            "integrity": obj.integrity,
            "lastCheckTime": ts(obj.last_check),
            "lastPruneTime": ts(obj.last_prune),
            "conditions": [
                condition("RepositoryInitialized", obj.is_ready(), "Initialized" if obj.is_ready() else "NotInitialized",
                          obj.status_message),
                *([condition("IntegrityVerified", obj.integrity, "CheckPassed" if obj.integrity else "CheckFailed",
                             "", obj.last_check)] if obj.last_check else []),
            ],
        }),
    }


def apply_repository(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> Repository:
    obj = get_or_new(Repository, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    spec.ignore("appRef")
    obj.storage = lookup(BackupStorage, team, spec.ref_name("storageRef"), f"{spec.path}.storageRef.name")
    obj.directory = normalize_directory(spec.get("path", str))
    obj.encryption_secret = lookup(Secret, team, spec.ref_name("encryptionSecret"), f"{spec.path}.encryptionSecret.name")
    obj.deletion_policy = spec.get("deletionPolicy", str, "Delete")
    spec.done()
    apply_repository_status(obj, doc.node("status", required=False))
    return save_clean(obj, doc.path, {"directory": "spec.path", "name": "metadata.name"})


def apply_repository_status(obj: Repository, status: Node | None) -> None:
    if status is None:
        return
    obj.phase = status.get("phase", str, Repository.Phase.NOT_READY)
    obj.status_message = status.get("reason", str, "")
    obj.repository_id = status.get("repositoryID", str, "")
    obj.size_bytes = status.get("size", int, 0)
    obj.snapshot_count = status.get("snapshotCount", int, 0)
    obj.last_backup = parse_ts(status, "lastBackupTime")
    obj.integrity = status.get("integrity", bool, None)
    obj.last_check = parse_ts(status, "lastCheckTime")
    obj.last_prune = parse_ts(status, "lastPruneTime")
    status.ignore("conditions")  # derived from the fields above
    status.done()
