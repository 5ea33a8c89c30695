"""BackupBlueprint in the Kubernetes mirror: its CR, the labels of the AppBindings it
selects, and the link on the configurations it made."""
from __future__ import annotations

import pytest

from backups import blueprints
from tenancy.manifests import MANAGED_BY
from tests import factories as f
from tests.k8s.conftest import run_sync
from tests.k8s.helpers import objects, writes

pytestmark = pytest.mark.django_db


def test_a_blueprint_is_mirrored_with_its_selector_template_and_what_it_made(teams, k8s_api, settings, tmp_path):
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    settings.K8S_NAMESPACE_MAP = {"team-a": "backups-prod"}
    a = teams["a"]
    f.secret(a, "repo-key")
    f.storage(a, "local")
    f.cluster(a, "es-1", labels={"backup": "gold", "namespace": "team-a"})
    template = f.blueprint_template()
    template["backends"][0]["storageRef"]["namespace"] = "team-a"
    f.blueprint(a, "gold", template=template)
    blueprints.reconcile(a)
    assert "0 errors" in run_sync("--once")
    mirrored = objects(k8s_api, "backups-prod")
    bp = mirrored[("BackupBlueprint", "backups-prod", "gold")]
    assert bp["apiVersion"] == "core.stashboard.io/v1alpha1"
    assert bp["metadata"]["labels"][MANAGED_BY] == "stashboard"
    assert bp["spec"]["selector"] == {"matchLabels": {"backup": "gold"}}
    assert bp["spec"]["configurationName"] == "${CLUSTER_NAME}-${BLUEPRINT_NAME}"
    # references follow the namespace mapping; the selector and labels are the user's own
    assert bp["spec"]["backupConfigurationTemplate"]["backends"][0]["storageRef"] == {"name": "local", "namespace": "backups-prod"}
    assert bp["status"]["configurations"] == [{"name": "es-1-gold", "cluster": "es-1"}]
    app = mirrored[("AppBinding", "backups-prod", "es-1")]
    assert {"backup": "gold", "namespace": "team-a"}.items() <= app["metadata"]["labels"].items()
    config = mirrored[("BackupConfiguration", "backups-prod", "es-1-gold")]
    assert config["metadata"]["annotations"]["blueprint.stashboard.io/name"] == "gold"
    mark = len(k8s_api.requests)
    assert "0 created, 0 patched, 0 status patched, 0 deleted" in run_sync()
    assert writes(k8s_api, mark) == []
