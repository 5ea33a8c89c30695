"""The BackupBlueprint manifest (core.kubestash.com/v1alpha1) ↔ its row.

KubeStash's BackupBlueprint holds `backupConfigurationTemplate` (backends and sessions as
a BackupConfiguration has them) and picks targets by annotation; Stashboard picks
clusters by `selector` (a label selector over AppBinding labels) and names each
configuration by `configurationName`. Variables: ${CLUSTER_NAME}, ${TEAM}, ${BLUEPRINT_NAME}."""
from __future__ import annotations

from typing import Any

from backups.blueprints import problems
from backups.models import BackupBlueprint
from backups.serializers import CORE_API_VERSION
from tenancy.manifests import ManifestError, Node, condition, drop_empty, get_or_new, metadata, save_clean
from tenancy.models import Team

_FIELD_PATHS = {"selector": "spec.selector", "configuration_name": "spec.configurationName",
                "template": "spec.backupConfigurationTemplate", "name": "metadata.name"}


def export_blueprint(obj: BackupBlueprint) -> dict[str, Any]:
    made = sorted(obj.configurations.all(), key=lambda c: c.name)
    return {
        "apiVersion": CORE_API_VERSION,
        "kind": "BackupBlueprint",
        "metadata": metadata(obj.name, obj.team.slug, obj.uuid),
        "spec": drop_empty({
            "selector": obj.selector,
            "configurationName": obj.configuration_name,
            "backupConfigurationTemplate": obj.template,
        }),
        "status": drop_empty({
            "configurations": [drop_empty({"name": c.name, "cluster": c.target.name, "paused": c.paused or None})
                               for c in made] or None,
            "problems": obj.problems or None,
            "conditions": [condition("Ready", not obj.problems, "Reconciled" if not obj.problems else "ClusterProblems",
                                     "; ".join(f"{k}: {v}" for k, v in sorted((obj.problems or {}).items())))],
        }),
    }


def apply_blueprint(doc: Node, team: Team, meta: Node, name: str, uid: str | None) -> BackupBlueprint:
    obj = get_or_new(BackupBlueprint, team, name, uid)
    spec = doc.node("spec")
    assert spec is not None
    obj.selector = spec.get("selector", dict)
    obj.configuration_name = spec.get("configurationName", str, BackupBlueprint.DEFAULT_CONFIGURATION_NAME)
    obj.template = spec.get("backupConfigurationTemplate", dict)
    usage = spec.node("usagePolicy", required=False)  # KubeStash's; a blueprint here serves its own team only
    if usage is not None:
        usage.ignore("allowedNamespaces")
        usage.done()
    spec.done()
    doc.ignore("status")  # derived: the configurations made and the last reconcile's problems
    found = problems(obj)
    if found:
        first = found[0]
        base = _FIELD_PATHS[first.field]
        raise ManifestError(f"{base}.{first.path}" if first.path else base, first.message)
    return save_clean(obj, doc.path, _FIELD_PATHS)
