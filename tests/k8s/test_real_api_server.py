"""What only a real API server can show (kmock has no status subresource, no label
selectors, no resourceVersion/uid, no CRD registration or schema pruning). These run
when KUBECONFIG names a disposable cluster (kind, k3d, minikube), e.g.

    KUBECONFIG=~/.kube/kind DATABASE_URL=... python -m pytest tests/k8s -q -k real_api

They install deploy/crds, use a fresh namespace per test and delete it afterwards."""
from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tenancy.manifests import MANAGED_BY
from tests.foundation.test_apply_export import one_of_each
from tests.k8s.conftest import ROOT, run_sync

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not os.environ.get("KUBECONFIG"), reason="needs a real API server: set KUBECONFIG"),
]


@pytest.fixture
def real_api(settings: Any, teams: Any) -> Iterator[Any]:
    from kubernetes import client, config

    settings.K8S_SYNC_ENABLED = True
    settings.K8S_KUBECONFIG = os.environ["KUBECONFIG"]
    settings.K8S_API_GROUP_SUFFIX = "stashboard.io"
    namespace = f"stashboard-test-{uuid.uuid4().hex[:8]}"
    settings.K8S_NAMESPACE_MAP = {"team-a": namespace, "team-b": namespace + "-b"}
    api_client = config.new_client_from_config(config_file=os.environ["KUBECONFIG"])
    extensions = client.ApiextensionsV1Api(api_client)
    for path in sorted(Path(ROOT / "deploy" / "crds").glob("*.yaml")):
        crd = yaml.safe_load(path.read_text())
        try:
            extensions.create_custom_resource_definition(crd)  # type: ignore[arg-type]  # the client sends a dict body as is
        except client.ApiException as e:
            if e.status != 409:
                raise
    for path in sorted(Path(ROOT / "deploy" / "crds").glob("*.yaml")):
        name = yaml.safe_load(path.read_text())["metadata"]["name"]
        for _ in range(60):
            status = extensions.read_custom_resource_definition(name).status
            conditions = (status.conditions if status is not None else None) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                break
            time.sleep(0.5)
    core = client.CoreV1Api(api_client)
    for ns in (namespace, namespace + "-b"):
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
    try:
        yield client.CustomObjectsApi(api_client), namespace
    finally:
        for ns in (namespace, namespace + "-b"):
            core.delete_namespace(ns)


def test_real_api_mirror_with_a_status_subresource_and_no_second_write(real_api, teams):
    custom, namespace = real_api
    one_of_each(teams["a"])
    assert "0 errors" in run_sync()
    snapshots = custom.list_namespaced_custom_object("storage.stashboard.io", "v1alpha1", namespace, "snapshots")["items"]
    assert len(snapshots) == 1 and snapshots[0]["status"]["phase"] == "Succeeded"
    # Nothing pruned, nothing defaulted: a second turn writes nothing.
    assert "0 created, 0 patched, 0 status patched, 0 deleted" in run_sync()


def test_real_api_a_spec_patch_cannot_change_the_status(real_api, teams):
    custom, namespace = real_api
    one_of_each(teams["a"])
    run_sync()
    custom.patch_namespaced_custom_object("core.stashboard.io", "v1alpha1", namespace, "backupconfigurations", "nightly",
                                          {"spec": {"paused": True}, "status": {"phase": "Invalid"}},
                                          _content_type="application/merge-patch+json")
    cr = custom.get_namespaced_custom_object("core.stashboard.io", "v1alpha1", namespace, "backupconfigurations", "nightly")
    assert cr["spec"]["paused"] is True and cr["status"].get("phase") != "Invalid"
    run_sync("--accept-edits")
    from backups.models import BackupConfiguration
    assert BackupConfiguration.objects.get(name="nightly").paused is True


def test_real_api_the_label_selector_hides_unmanaged_objects(real_api, teams):
    custom, namespace = real_api
    custom.create_namespaced_custom_object("storage.stashboard.io", "v1alpha1", namespace, "retentionpolicies", {
        "apiVersion": "storage.stashboard.io/v1alpha1", "kind": "RetentionPolicy",
        "metadata": {"name": "by-hand", "labels": {MANAGED_BY: "helm"}}, "spec": {}})
    run_sync()
    listed = custom.list_namespaced_custom_object("storage.stashboard.io", "v1alpha1", namespace, "retentionpolicies",
                                                  label_selector=f"{MANAGED_BY}=stashboard")["items"]
    assert listed == []
    assert custom.get_namespaced_custom_object("storage.stashboard.io", "v1alpha1", namespace, "retentionpolicies", "by-hand")
