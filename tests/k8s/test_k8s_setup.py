"""Settings, group mapping, CRD files, and start-up without the kubernetes client."""
from __future__ import annotations

import os
import subprocess
import sys

import yaml

from dashboard.k8s.crds import all_crds
from dashboard.k8s.mapping import group_for
from dashboard.management.commands.k8s_sync import crd_yaml
from tests.k8s.conftest import ROOT


def test_nothing_imports_the_kubernetes_client_at_start_up():
    code = (
        "import sys, django; django.setup();"
        "from django.core.management import call_command; call_command('check');"
        "import dashboard.urls, dashboard.resources, dashboard.wsgi;"
        "from django.core.management import get_commands; assert 'k8s_sync' in get_commands();"
        "bad = sorted(m for m in sys.modules if m == 'kubernetes' or m.startswith('kubernetes.'));"
        "assert not bad, bad; print('clean')"
    )
    for enabled in ("false", "true"):
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "dashboard.settings", "K8S_SYNC_ENABLED": enabled}
        done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        assert "clean" in done.stdout


def test_the_default_groups_keep_clear_of_kubestash():
    assert group_for("storage.kubestash.com", "stashboard.io") == "storage.stashboard.io"
    assert group_for("core.kubestash.com", "stashboard.io") == "core.stashboard.io"
    assert group_for("appcatalog.appscode.com", "stashboard.io") == "appcatalog.stashboard.io"


def test_the_kubestash_suffix_means_kubestashs_own_groups():
    assert group_for("storage.kubestash.com", "kubestash.com") == "storage.kubestash.com"
    assert group_for("core.kubestash.com", "kubestash.com") == "core.kubestash.com"
    assert group_for("appcatalog.appscode.com", "kubestash.com") == "appcatalog.appscode.com"


def test_the_crds_in_deploy_are_the_generated_ones(settings):
    settings.K8S_API_GROUP_SUFFIX = "stashboard.io"
    crds = all_crds()
    files = sorted((ROOT / "deploy" / "crds").glob("*.yaml"))
    assert len(files) == len(crds) == 10
    for crd in crds:
        path = ROOT / "deploy" / "crds" / f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml"
        assert path.read_text() == crd_yaml(crd), f"{path} is stale: run manage.py k8s_sync --write-crds deploy/crds"


def test_each_crd_has_a_status_subresource_and_a_phase_column():
    for crd in all_crds("stashboard.io"):
        version = crd["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        schema = version["schema"]["openAPIV3Schema"]["properties"]
        assert schema["spec"]["x-kubernetes-preserve-unknown-fields"] is True
        assert {"phase", "conditions", "components"} <= set(schema["status"]["properties"])
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert "Age" in columns and ("Phase" in columns or crd["spec"]["names"]["kind"] in ("AppBinding", "BackupBlueprint"))
        yaml.safe_dump(crd)
