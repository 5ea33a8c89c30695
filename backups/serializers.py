"""core.kubestash.com manifests (BackupConfiguration, BackupSession) and the
storage.kubestash.com Snapshot, plus the AppBinding that names a Cluster ↔ rows."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from backups.addons import elasticsearch as addon
from backups.labels import validate_labels
from backups.models import (
    BackupBlueprint,
    BackupConfiguration,
    BackupSession,
    BackupSessionConfig,
    Cluster,
    SessionPhase,
    Snapshot,
)
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from storage.validators import normalize_directory
from tenancy.manifests import (
    APPCATALOG_GROUP,
    CORE_GROUP,
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

CORE_API_VERSION = f"{CORE_GROUP}/{VERSION}"
STORAGE_API_VERSION = f"{STORAGE_GROUP}/{VERSION}"
APPBINDING_API_VERSION = f"{APPCATALOG_GROUP}/{VERSION}"


def app_ref(cluster: Cluster) -> dict[str, Any]:
    return {"apiGroup": APPCATALOG_GROUP, "kind": "AppBinding", "name": cluster.name, "namespace": cluster.team.slug}


def _target(spec: Node, team: Team, key: str = "target") -> Cluster:
    ref = spec.node(key)
    assert ref is not None
    kind = ref.get("kind", str, "AppBinding")
    if kind not in ("AppBinding", "Elasticsearch"):
        raise ManifestError(f"{ref.path}.kind", f"'{kind}' cannot be a target: use AppBinding")
    ref.get("apiGroup", str, "")
    ref.get("namespace", str, "")
    name = ref.get("name")
    ref.done()
    return lookup(Cluster, team, name, f"{ref.path}.name")


# --- AppBinding (Cluster) -------------------------------------------------

def export_cluster(obj: Cluster) -> dict[str, Any]:
    urls = obj.url_list()
    return {
        "apiVersion": APPBINDING_API_VERSION,
        "kind": "AppBinding",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid, labels=obj.labels or None),
        "spec": drop_empty({
            "type": "elasticsearch",
            "clientConfig": drop_empty({
                "url": urls[0] if urls else "",
                "urls": urls[1:] or None,
                "caBundle": obj.ca_bundle,
                "insecureSkipTLSVerify": (not obj.verify_tls) or None,
                "timeoutSeconds": obj.timeout,
            }),
            "secret": {"name": obj.auth_secret.name} if obj.auth_secret is not None else None,
            "parameters": {"auth": obj.auth},
        }),
        "status": drop_empty({
            "distribution": obj.distribution,
            "version": obj.version,
            "clusterUUID": obj.cluster_uuid,
            "lastConnected": ts(obj.last_connected),
            "reason": obj.status_message,
        }),
    }


def apply_cluster(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> Cluster:
    obj = get_or_new(Cluster, team, name, uid)
    obj.labels = _labels(meta)
    spec = doc.node("spec")
    assert spec is not None
    kind = spec.get("type", str, "elasticsearch")
    if kind not in ("elasticsearch", "opensearch", "kubedb.com/elasticsearch"):
        raise ManifestError(f"{spec.path}.type", f"'{kind}' is not a cluster type Stashboard backs up: use elasticsearch")
    cc = spec.node("clientConfig")
    assert cc is not None
    urls = [cc.get("url")] + [u for u in (cc.get("urls", list, []) or [])]
    obj.urls = "\n".join(urls)
    obj.ca_bundle = cc.get("caBundle", str, "")
    obj.verify_tls = not cc.get("insecureSkipTLSVerify", bool, False)
    obj.timeout = cc.get("timeoutSeconds", int, 60)
    cc.done()
    secret = spec.node("secret", required=False)
    if secret is not None:
        obj.auth_secret = lookup(Secret, team, secret.get("name"), f"{secret.path}.name")
        secret.done()
    else:
        obj.auth_secret = None
    params = spec.node("parameters", required=False)
    obj.auth = params.get("auth", str, "basic" if secret else "none") if params else ("basic" if secret else "none")
    if params:
        params.done()
    if obj.auth not in Cluster.Auth.values:
        raise ManifestError(f"{spec.path}.parameters.auth", "use none, basic or api_key")
    spec.done()
    status = doc.node("status", required=False)
    if status is not None:
        obj.distribution = status.get("distribution", str, "")
        obj.version = status.get("version", str, "")
        obj.cluster_uuid = status.get("clusterUUID", str, "")
        obj.last_connected = parse_ts(status, "lastConnected")
        obj.status_message = status.get("reason", str, "")
        status.done()
    return save_clean(obj, doc.path, {"urls": "spec.clientConfig.url", "auth_secret": "spec.secret.name", "name": "metadata.name",
                                      "labels": "metadata.labels"})


def _labels(meta: Node) -> dict[str, str]:
    """metadata.labels of an AppBinding: the cluster's labels, which blueprints select on."""
    labels = meta.data.get("labels") or {}
    try:
        validate_labels(labels)
    except ValidationError as e:
        raise ManifestError("metadata.labels", " ".join(e.messages)) from None
    return dict(labels)


# --- BackupConfiguration --------------------------------------------------

def _backend_names(config: BackupConfiguration) -> dict[tuple[int, int | None], str]:
    """KubeStash names (storage, retention policy) pairs as backends; we derive them."""
    pairs: list[tuple[BackupStorage, RetentionPolicy | None]] = []
    for session in config.sessions.all():
        for repo in session.repositories.all():
            pair = (repo.storage, session.retention_policy)
            if all((p[0].pk, p[1].pk if p[1] else None) != (pair[0].pk, pair[1].pk if pair[1] else None) for p in pairs):
                pairs.append(pair)
    by_storage: dict[int, int] = {}
    for storage, _ in pairs:
        by_storage[storage.pk] = by_storage.get(storage.pk, 0) + 1
    names = {}
    for storage, retention in pairs:
        name = storage.name if by_storage[storage.pk] == 1 or retention is None else f"{storage.name}-{retention.name}"
        names[(storage.pk, retention.pk if retention else None)] = name
    return names


def export_configuration(obj: BackupConfiguration) -> dict[str, Any]:
    names = _backend_names(obj)
    storages = {s.pk: s for session in obj.sessions.all() for s in (r.storage for r in session.repositories.all())}
    retentions = {s.retention_policy.pk: s.retention_policy for s in obj.sessions.all() if s.retention_policy is not None}
    backends = []
    for (storage_pk, retention_pk), name in names.items():
        backends.append(drop_empty({
            "name": name,
            "storageRef": {"name": storages[storage_pk].name, "namespace": obj.team.slug},
            "retentionPolicy": {"name": retentions[retention_pk].name, "namespace": obj.team.slug} if retention_pk else None,
        }))
    sessions = []
    for s in obj.sessions.all():
        retention_pk = s.retention_policy.pk if s.retention_policy is not None else None
        sessions.append(drop_empty({
            "name": s.name,
            "scheduler": {"schedule": s.schedule, "jobTemplate": {"backoffLimit": s.backoff_limit}},
            "sessionHistoryLimit": s.session_history_limit,
            "repositories": [
                {"name": r.name, "backend": names[(r.storage.pk, retention_pk)], "directory": r.directory,
                 "encryptionSecret": {"name": r.encryption_secret.name, "namespace": obj.team.slug}}
                for r in s.repositories.all()
            ],
            "addon": {"name": addon.ADDON_NAME, "tasks": [drop_empty({"name": addon.BACKUP_TASK, "params": s.task_params or None})]},
            "hooks": s.hooks or None,
        }))
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "BackupConfiguration",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid, annotations=_blueprint_annotations(obj)),
        "spec": drop_empty({
            "target": app_ref(obj.target),
            "backends": backends,
            "sessions": sessions,
            "paused": obj.paused or None,
            "timeZone": obj.timezone if obj.timezone != "UTC" else None,
        }),
        "status": drop_empty({
            "phase": obj.phase,
            "reason": obj.status_message,
            "conditions": [condition("ValidationPassed", obj.phase != BackupConfiguration.Phase.INVALID,
                                     "Valid" if obj.phase != BackupConfiguration.Phase.INVALID else "Invalid"),
                           condition("Ready", obj.is_ready(), obj.phase, obj.status_message)],
        }),
    }


# A configuration made from a blueprint says which (and whether it still follows it).
BLUEPRINT_ANNOTATION = "blueprint.stashboard.io/name"
DETACHED_ANNOTATION = "blueprint.stashboard.io/detached-from"


def _blueprint_annotations(obj: BackupConfiguration) -> dict[str, str] | None:
    if obj.blueprint_id is not None:
        return {BLUEPRINT_ANNOTATION: obj.blueprint_name}
    return {DETACHED_ANNOTATION: obj.blueprint_name} if obj.blueprint_name else None


def apply_configuration(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> BackupConfiguration:
    """A user's manifest (YAML, API, a kubectl edit): a configuration that follows a
    blueprint is changed through the blueprint, so a different spec is refused; the
    annotations link a configuration made elsewhere (an export) to its blueprint."""
    annotations = meta.data.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise ManifestError("metadata.annotations", "expected a mapping of key to string")
    existing = BackupConfiguration.objects.filter(team=team, name=name).select_related("target").first()
    if existing is not None and existing.follows_blueprint():
        if doc.data.get("spec") != export_configuration(existing)["spec"]:
            raise ManifestError("spec", f"configuration '{name}' is made from blueprint '{existing.blueprint_name}' and follows it: "
                                        "change the blueprint instead, or detach the configuration first (its page, or "
                                        f"POST /api/v1/backupconfigurations/{name}/detach)")
        doc.ignore("spec", "status")
        return existing
    obj = write_configuration(doc, team, meta, name, uid)
    followed, detached = annotations.get(BLUEPRINT_ANNOTATION), annotations.get(DETACHED_ANNOTATION)
    if followed and existing is None:
        bp = lookup(BackupBlueprint, team, followed, f"metadata.annotations.{BLUEPRINT_ANNOTATION}")
        BackupConfiguration.objects.filter(pk=obj.pk).update(blueprint=bp, blueprint_name=bp.name)
    elif isinstance(detached, str) and detached and not obj.blueprint_name:
        BackupConfiguration.objects.filter(pk=obj.pk).update(blueprint_name=detached[:63])
    obj.refresh_from_db()
    return obj


def write_configuration(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> BackupConfiguration:
    """The rows of a BackupConfiguration manifest (also what a blueprint renders)."""
    obj = get_or_new(BackupConfiguration, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    obj.target = _target(spec, team)
    obj.paused = spec.get("paused", bool, False)
    obj.timezone = spec.get("timeZone", str, "UTC")
    status = doc.node("status", required=False)
    if status is not None:
        obj.phase = status.get("phase", str, BackupConfiguration.Phase.NOT_READY)
        obj.status_message = status.get("reason", str, "")
        status.ignore("conditions")  # derived from the fields above
        status.done()
    backends: dict[str, tuple[BackupStorage, RetentionPolicy | None]] = {}
    for b in spec.nodes("backends"):
        bname = b.get("name")
        storage = lookup(BackupStorage, team, b.ref_name("storageRef"), f"{b.path}.storageRef.name")
        rname = b.ref_name("retentionPolicy", required=False)
        retention = lookup(RetentionPolicy, team, rname, f"{b.path}.retentionPolicy.name") if rname else None
        b.done()
        backends[bname] = (storage, retention)
    session_nodes = spec.nodes("sessions")
    if not session_nodes:
        raise ManifestError(f"{spec.path}.sessions", "give at least one session with a schedule and a repository")
    obj = save_clean(obj, doc.path, {"target": "spec.target.name", "timezone": "spec.timeZone", "name": "metadata.name"})
    keep = []
    for sn in session_nodes:
        sname = sn.get("name")
        session = BackupSessionConfig.objects.filter(configuration=obj, name=sname).first() or BackupSessionConfig(configuration=obj, name=sname)
        scheduler = sn.node("scheduler")
        assert scheduler is not None
        session.schedule = scheduler.get("schedule")
        job_template = scheduler.node("jobTemplate", required=False)
        session.backoff_limit = 1
        if job_template is not None:
            session.backoff_limit = job_template.get("backoffLimit", int, 1)
            job_template.ignore(*job_template.data)  # the pod template: no pods here
        scheduler.ignore("concurrencyPolicy", "successfulJobsHistoryLimit", "failedJobsHistoryLimit")
        scheduler.done()
        session.session_history_limit = sn.get("sessionHistoryLimit", int, 30)
        session.hooks = sn.get("hooks", dict, {})
        session.task_params = {}
        a = sn.node("addon", required=False)
        if a is not None:
            aname = a.get("name", str, addon.ADDON_NAME)
            if aname != addon.ADDON_NAME:
                raise ManifestError(f"{a.path}.name", f"'{aname}' unknown: the addon is {addon.ADDON_NAME}")
            for t in a.nodes("tasks"):
                tname = t.get("name")
                if tname != addon.BACKUP_TASK:
                    raise ManifestError(f"{t.path}.name", f"'{tname}' unknown: the backup task is {addon.BACKUP_TASK}")
                session.task_params = t.get("params", dict, {})
                t.done()
            a.ignore("jobTemplate", "containerRuntimeSettings")
            a.done()
        repos = []
        shared: RetentionPolicy | None | bool = False
        for rn in sn.nodes("repositories"):
            bname = rn.get("backend")
            if bname not in backends:
                raise ManifestError(f"{rn.path}.backend", f"backend '{bname}' is not in spec.backends: add it there or fix the name")
            storage, backend_retention = backends[bname]
            if shared is not False and shared != backend_retention:
                raise ManifestError(f"{rn.path}.backend", "all repositories of one session must share one retention policy")
            shared = backend_retention
            rname = rn.get("name")
            repo = Repository.objects.filter(team=team, name=rname).first() or Repository(team=team, name=rname)
            repo.storage = storage
            repo.directory = normalize_directory(rn.get("directory", str, f"{obj.name}/{sname}"))
            repo.encryption_secret = lookup(Secret, team, rn.ref_name("encryptionSecret"), f"{rn.path}.encryptionSecret.name")
            rn.done()
            repos.append(save_clean(repo, rn.path, {"directory": "directory"}))
        if not repos:
            raise ManifestError(f"{sn.path}.repositories", "give at least one repository to write the snapshots to")
        session.retention_policy = shared if isinstance(shared, RetentionPolicy) else None
        sn.done()
        save_clean(session, sn.path, {"schedule": "scheduler.schedule", "task_params": "addon.tasks[0].params", "hooks": "hooks", "name": "name"})
        session.repositories.set(repos)
        keep.append(session.pk)
    obj.sessions.exclude(pk__in=keep).delete()
    spec.done()
    return obj


# --- BackupSession --------------------------------------------------------

def export_session(obj: BackupSession) -> dict[str, Any]:
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "BackupSession",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": {
            "invoker": {"apiGroup": CORE_GROUP, "kind": "BackupConfiguration", "name": obj.configuration.name},
            "session": obj.session,
            "trigger": obj.trigger,
        },
        "status": drop_empty({
            "phase": obj.phase,
            "startTime": ts(obj.started),
            "completionTime": ts(obj.finished),
            "duration": f"{obj.duration:.3f}s" if obj.duration is not None else None,
            "error": obj.error,
            "cancelledBy": obj.cancelled_by,
            "snapshots": [
                drop_empty({"name": s.name, "phase": s.phase, "repository": s.repository.name,
                            "appRef": app_ref(obj.configuration.target), "attempts": s.attempts or None})
                for s in obj.snapshots.all()
            ] or None,
            "retried": any(s.attempts > 1 for s in obj.snapshots.all()) or None,
            "retentionPolicy": obj.retention or None,
            "hooks": obj.hook_results or None,
            "conditions": _session_conditions(obj),
        }),
    }


def _session_conditions(obj: BackupSession) -> list[dict[str, Any]] | None:
    if obj.phase == SessionPhase.SKIPPED:
        return [condition("BackupSkipped", True, "SkippedRun", obj.error, obj.finished)]
    if not obj.is_completed():
        return None
    return [condition("BackupCompleted", obj.phase == SessionPhase.SUCCEEDED, obj.phase, obj.error, obj.finished)]


def apply_session(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> BackupSession:
    obj = BackupSession.objects.filter(team=team, name=name).first() or BackupSession(team=team, name=name)
    if obj.pk is None and uid:
        obj.uuid = uid
    spec = doc.node("spec")
    assert spec is not None
    invoker = spec.node("invoker")
    assert invoker is not None
    invoker.ignore("apiGroup", "kind")
    obj.configuration = lookup(BackupConfiguration, team, invoker.get("name"), f"{invoker.path}.name")
    invoker.done()
    obj.session = spec.get("session")
    if not obj.configuration.sessions.filter(name=obj.session).exists():
        raise ManifestError(f"{spec.path}.session", f"configuration '{obj.configuration.name}' has no session '{obj.session}'")
    obj.trigger = spec.get("trigger", str, "manual")
    spec.done()
    status = doc.node("status", required=False)
    if status is not None:
        obj.phase = status.get("phase", str, BackupSession.Phase.PENDING)
        obj.started = parse_ts(status, "startTime")
        obj.finished = parse_ts(status, "completionTime")
        obj.error = status.get("error", str, "")
        obj.cancelled_by = status.get("cancelledBy", str, "")
        obj.retention = status.get("retentionPolicy", dict, {})
        obj.hook_results = status.get("hooks", list, [])
        status.ignore("duration", "snapshots", "conditions")
        status.done()
    return save_clean(obj, doc.path, {"trigger": "spec.trigger", "phase": "status.phase"}, exclude=["name"])


# --- Snapshot -------------------------------------------------------------

def export_snapshot(obj: Snapshot) -> dict[str, Any]:
    return {
        "apiVersion": STORAGE_API_VERSION,
        "kind": "Snapshot",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "snapshotID": obj.snapshot_id,
            "type": "FullBackup",
            "repository": obj.repository.name,
            "session": obj.backup_session.session if obj.backup_session is not None else None,
            "backupSession": obj.backup_session.name if obj.backup_session is not None else None,
            "version": "v1",
            "deletionPolicy": "Delete",
        }),
        "status": drop_empty({
            "phase": obj.phase,
            "snapshotTime": ts(obj.snapshot_time),
            "startTime": ts(obj.started),
            "completionTime": ts(obj.finished),
            "size": obj.size_bytes,
            "uploadedSize": obj.uploaded_bytes,
            "totalDocuments": obj.total_docs,
            "totalComponents": obj.total_components,
            "integrity": obj.integrity,
            "components": obj.components or None,
            "error": obj.error,
            "verification": drop_empty({"phase": obj.verification, "time": ts(obj.verified),
                                        "details": obj.verification_details or None}) or None,
            "conditions": [condition("SnapshotMetadataUploaded", True, "ManifestCommitted", "", obj.snapshot_time)]
            if obj.snapshot_id else None,
        }),
    }


def apply_snapshot(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> Snapshot:
    obj = Snapshot.objects.filter(team=team, name=name).first() or Snapshot(team=team, name=name)
    if obj.pk is None and uid:
        obj.uuid = uid
    spec = doc.node("spec")
    assert spec is not None
    obj.snapshot_id = spec.get("snapshotID", str, "")
    obj.repository = lookup(Repository, team, spec.get("repository"), f"{spec.path}.repository")
    bs_name = spec.get("backupSession", str, None)
    obj.backup_session = lookup(BackupSession, team, bs_name, f"{spec.path}.backupSession") if bs_name else None
    spec.ignore("session", "type", "version", "deletionPolicy", "appRef", "paused")
    spec.done()
    status = doc.node("status", required=False)
    if status is not None:
        obj.phase = status.get("phase", str, Snapshot.Phase.PENDING)
        obj.snapshot_time = parse_ts(status, "snapshotTime")
        obj.started = parse_ts(status, "startTime")
        obj.finished = parse_ts(status, "completionTime")
        obj.size_bytes = status.get("size", int, 0)
        obj.uploaded_bytes = status.get("uploadedSize", int, 0)
        obj.total_docs = status.get("totalDocuments", int, 0)
        obj.total_components = status.get("totalComponents", int, 0)
        obj.integrity = status.get("integrity", bool, None)
        obj.components = status.get("components", dict, {})
        obj.error = status.get("error", str, "")
        verification = status.node("verification", required=False)
        if verification is not None:
            obj.verification = verification.get("phase", str, "")
            obj.verified = parse_ts(verification, "time")
            obj.verification_details = verification.get("details", dict, {})
            verification.done()
        status.ignore("conditions")  # derived from the fields above
        status.done()
    return save_clean(obj, doc.path, {"phase": "status.phase", "verification": "status.verification.phase"}, exclude=["name"])
