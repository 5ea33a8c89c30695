"""Every kind Stashboard reads and writes as a manifest, in dependency order.
Used by `manage.py apply` / `manage.py export` and by the Kubernetes sync."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction

import audit
from audit.models import Action
from backups import blueprint_manifests as blueprints_s
from backups import serializers as backups_s
from backups.models import BackupBlueprint, BackupConfiguration, BackupSession, Cluster, Snapshot
from restores import serializers as restores_s
from restores.models import BackupVerifier, RestoreSession
from storage import serializers as storage_s
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from tenancy.manifests import DISPLAY_NAME, ManifestError, Node, metadata
from tenancy.models import Team


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    model: Any
    to_manifest: Callable[..., dict[str, Any]]
    apply: Callable[..., Any]
    related: tuple[str, ...] = ()
    prefetch: tuple[str, ...] = ()


def export_namespace(team: Team) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata(team.slug, None, team.uuid, {DISPLAY_NAME: team.name})}


KINDS: list[Kind] = [
    Kind("v1", "Secret", Secret, storage_s.export_secret, storage_s.apply_secret),
    Kind(storage_s.API_VERSION, "BackupStorage", BackupStorage, storage_s.export_storage, storage_s.apply_storage, ("secret",)),
    Kind(storage_s.API_VERSION, "RetentionPolicy", RetentionPolicy, storage_s.export_retention, storage_s.apply_retention),
    Kind(backups_s.APPBINDING_API_VERSION, "AppBinding", Cluster, backups_s.export_cluster, backups_s.apply_cluster, ("auth_secret",)),
    Kind(storage_s.API_VERSION, "Repository", Repository, storage_s.export_repository, storage_s.apply_repository,
         ("storage", "encryption_secret")),
    # BackupBlueprint: after what its template names, before the configurations it makes.
    Kind(backups_s.CORE_API_VERSION, "BackupBlueprint", BackupBlueprint, blueprints_s.export_blueprint,
         blueprints_s.apply_blueprint, (), ("configurations__target",)),
    Kind(backups_s.CORE_API_VERSION, "BackupConfiguration", BackupConfiguration, backups_s.export_configuration,
         backups_s.apply_configuration, ("target",),
         ("sessions__retention_policy", "sessions__repositories__storage", "sessions__repositories__encryption_secret")),
    Kind(backups_s.CORE_API_VERSION, "BackupSession", BackupSession, backups_s.export_session, backups_s.apply_session,
         ("configuration__target",), ("snapshots__repository",)),
    Kind(backups_s.STORAGE_API_VERSION, "Snapshot", Snapshot, backups_s.export_snapshot, backups_s.apply_snapshot,
         ("repository", "backup_session")),
    Kind(backups_s.CORE_API_VERSION, "RestoreSession", RestoreSession, restores_s.export_restore, restores_s.apply_restore,
         ("target", "repository__encryption_secret")),
    Kind(backups_s.CORE_API_VERSION, "BackupVerifier", BackupVerifier, restores_s.export_verifier, restores_s.apply_verifier,
         ("target", "repository")),
]
ORDER = ["Namespace"] + [k.kind for k in KINDS]
BY_KIND = {k.kind: k for k in KINDS}


def queryset(kind: Kind, teams: Iterable[Team]) -> Any:
    """The rows of one kind for these teams, with what its serializer reads."""
    return kind.model.objects.filter(team__in=list(teams)).select_related("team", *kind.related).prefetch_related(*kind.prefetch)


def to_manifest(kind: Kind, obj: Any, include_secret_values: bool = False) -> dict[str, Any]:
    if kind.kind == "Secret":
        return kind.to_manifest(obj, include_values=include_secret_values)
    return kind.to_manifest(obj)


def export(teams: Iterable[Team], include_secret_values: bool = False, kinds: Iterable[str] | None = None) -> list[dict[str, Any]]:
    wanted = set(kinds) if kinds else set(ORDER)
    docs: list[dict[str, Any]] = []
    teams = list(teams)
    if "Namespace" in wanted:
        docs.extend(export_namespace(t) for t in teams)
    for kind in KINDS:
        if kind.kind not in wanted:
            continue
        for obj in queryset(kind, teams).order_by("team__slug", "name"):
            docs.append(to_manifest(kind, obj, include_secret_values))
    return docs


def _doc_label(index: int, doc: Any) -> str:
    if isinstance(doc, dict):
        meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
        ns = meta.get("namespace")
        name = meta.get("name", "?")
        return f"doc {index} ({doc.get('kind', '?')} {ns + '/' if ns else ''}{name})"
    return f"doc {index}"


def start_flows(objects: list[Any], actor: Any = None) -> None:
    """What saving these rows starts, as in the dashboard: storage and repository
    initialization, a configuration's repositories (then its instant backup), a new
    restore. Records (sessions, snapshots, finished restores) start nothing."""
    from backups import flows as backup_flows
    from restores import flows as restore_flows
    from storage import flows as storage_flows

    for obj in objects:
        if isinstance(obj, BackupStorage) and not obj.is_ready():
            storage_flows.initialize_storage(obj)
        elif isinstance(obj, Repository) and not obj.is_ready():
            storage_flows.initialize_repository(obj)
        elif isinstance(obj, BackupConfiguration):
            backup_flows.configuration_saved(obj)
        elif isinstance(obj, RestoreSession) and obj.phase == RestoreSession.Phase.PENDING:
            restore_flows.start_restore(obj, actor=actor)
    _reconcile_blueprints(objects)


def _reconcile_blueprints(objects: list[Any]) -> None:
    """A saved cluster (its labels) or blueprint: the team's blueprint-made configurations follow."""
    from backups import blueprints

    teams = {obj.team_id: obj.team for obj in objects if isinstance(obj, (Cluster, BackupBlueprint))}
    for team in teams.values():
        blueprints.reconcile(team)


_UNTRACKED = {"apiVersion", "kind", "status", "metadata.uid", "metadata.creationTimestamp", "metadata.resourceVersion", "metadata.generation"}


def _state(kind: Kind, obj: Any) -> dict[str, Any] | None:
    """A row as its manifest, to compare before and after. A Secret's values take part
    only in memory: the audit log gets the paths that differ, never what is there."""
    if obj is None:
        return None
    return kind.to_manifest(obj, include_values=True) if kind.kind == "Secret" else kind.to_manifest(obj)


def changed_paths(before: Any, after: Any, prefix: str = "") -> list[str]:
    """The dotted paths at which two manifests differ (lists compare whole; a mapping
    that is new or gone counts as an empty one, so a created row lists its leaves)."""
    if isinstance(before, dict) and after is None:
        after = {}
    if isinstance(after, dict) and before is None:
        before = {}
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key in sorted(set(before) | set(after), key=str):
            path = f"{prefix}.{key}" if prefix else str(key)
            if path not in _UNTRACKED and before.get(key) != after.get(key):
                out += changed_paths(before.get(key), after.get(key), path) if path.count(".") < 3 else [path]
        return out
    return [prefix] if before != after else []


def check_header(doc: Any) -> str:
    """The document's kind, once it is a mapping whose kind and apiVersion Stashboard knows."""
    if not isinstance(doc, dict):
        raise ManifestError("", "a document must be a mapping with apiVersion, kind and metadata")
    kind = doc.get("kind")
    if kind not in ORDER:
        raise ManifestError("kind", f"'{kind}' is not a kind Stashboard knows: use one of {', '.join(ORDER)}")
    expected = "v1" if kind == "Namespace" else BY_KIND[kind].api_version
    if doc.get("apiVersion") != expected:
        raise ManifestError("apiVersion", f"'{doc.get('apiVersion')}' is wrong for {kind}: use {expected}")
    return kind


def _labelled(label: str, e: ManifestError) -> ManifestError:
    return ManifestError(f"{label}: {e.path}" if e.path else label, e.message)


def apply(docs: list[Any], *, dry_run: bool = False, start: bool = True, actor: Any = None) -> list[str]:
    """Create or update rows from manifests, all or nothing, then start what saving them
    starts (unless `start` is False). Returns 'kind ns/name created|configured'. With an
    `actor` (audit.log.Actor.command("apply")), each created or changed row goes to the
    audit log with the manifest paths that changed."""
    indexed = []
    for i, doc in enumerate(docs, 1):
        label = _doc_label(i, doc)
        try:
            kind = check_header(doc)
        except ManifestError as e:
            raise _labelled(label, e) from None
        indexed.append((ORDER.index(kind), i, label, doc))
    indexed.sort(key=lambda t: (t[0], t[1]))
    results = []
    applied: list[Any] = []
    with transaction.atomic():
        for _, _, label, raw in indexed:
            try:
                result, obj = apply_one(raw, actor)
            except ManifestError as e:
                raise _labelled(label, e) from None
            results.append(result)
            if obj is not None:
                applied.append(obj)
        if dry_run:
            transaction.set_rollback(True)
        elif start:
            start_flows(applied, actor)
    return results


def apply_one(raw: dict[str, Any], actor: Any = None) -> tuple[str, Any]:
    """One document that passed check_header, inside the caller's transaction: its result
    line and its row (None for a Namespace). Errors carry the path within the document.
    With an `actor`, a created or changed row is recorded in the audit log."""
    doc = Node(raw, "")
    doc.ignore("apiVersion", "kind")
    meta = doc.node("metadata")
    assert meta is not None
    meta.path = "metadata"
    name = meta.get("name")
    uid = meta.get("uid", str, None)
    meta.ignore("labels", "annotations", "creationTimestamp", "resourceVersion", "generation", "managedFields")
    if raw["kind"] == "Namespace":
        meta.get("namespace", str, None)
        meta.done()
        annotations = raw["metadata"].get("annotations") or {}
        team = Team.objects.filter(slug=name).first()
        created = team is None
        old_name = team.name if team is not None else None
        if team is None:
            team = Team(slug=name, name=annotations.get(DISPLAY_NAME, name))
            if uid:
                team.uuid = uid
        else:
            team.name = annotations.get(DISPLAY_NAME, team.name)
        team.full_clean()
        team.save()
        if actor is not None and (created or old_name != team.name):
            audit.record(actor, team, Action.CREATED if created else Action.CHANGED, team, fields=["name"])
        doc.done()
        return f"Namespace {name} {'created' if created else 'configured'}", None
    namespace = meta.get("namespace")
    meta.done()
    team = Team.objects.filter(slug=namespace).first()
    if team is None:
        raise ManifestError("metadata.namespace", f"team '{namespace}' does not exist: create it first (a v1 Namespace document)")
    kind = BY_KIND[raw["kind"]]
    before = _state(kind, kind.model.objects.filter(team=team, name=name).select_related("team", *kind.related).first())
    existed = before is not None
    obj = kind.apply(doc, team, meta, name, uid)
    doc.done()
    if actor is not None:
        fields = changed_paths(before or {}, _state(kind, obj))
        if fields:
            audit.record(actor, team, Action.CHANGED if existed else Action.CREATED, obj, fields=fields)
    return f"{raw['kind']} {namespace}/{name} {'configured' if existed else 'created'}", obj
