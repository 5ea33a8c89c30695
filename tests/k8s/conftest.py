from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from tests.k8s.emulator import EmulatedAPI

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def k8s_api(settings: Any, tmp_path: Path) -> Iterator[EmulatedAPI]:
    """kmock's KubernetesEmulator with our CRDs, and a kubeconfig that points the
    command (through the real client set-up path) at it."""
    from kubernetes import client

    from dashboard.k8s.crds import all_crds

    api = EmulatedAPI()
    api.start()
    configuration = client.Configuration()
    configuration.host = api.url
    extensions = client.ApiextensionsV1Api(client.ApiClient(configuration))
    for crd in all_crds():
        extensions.create_custom_resource_definition(crd)  # type: ignore[arg-type]  # the client sends a dict body as is
        # kmock gap: a CRD object does not register its resource (no discovery), so a
        # list of a kind with no objects would answer 404. Register it as a real API
        # server does when the CRD is established.
        api.declare(crd["spec"]["group"], crd["spec"]["versions"][0]["name"], crd["spec"]["names"]["plural"])
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "kmock",
        "clusters": [{"name": "kmock", "cluster": {"server": api.url}}],
        "users": [{"name": "kmock", "user": {}}],
        "contexts": [{"name": "kmock", "context": {"cluster": "kmock", "user": "kmock"}}],
    }))
    settings.K8S_SYNC_ENABLED = True
    settings.K8S_KUBECONFIG = str(kubeconfig)
    settings.K8S_REQUEST_TIMEOUT = 3
    try:
        yield api
    finally:
        api.close()


def run_sync(*args: str) -> str:
    out = io.StringIO()
    call_command("k8s_sync", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()
