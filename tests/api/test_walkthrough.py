"""The README's curl walkthrough, run as it is written: a live server, a real worker
process, osmem-server, a local storage. It backs up, waits on the long poll, restores
with a rename and waits again; the transcript goes to test-output/api-walkthrough.txt."""
from __future__ import annotations

import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from api.models import ApiToken
from dashboard import resources
from storage.models import Repository
from tests import factories as f
from tests.fixtures.live import ROOT
from tests.peers.osmem import es

pytestmark = pytest.mark.slow


def readme_walkthrough() -> str:
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"```sh walkthrough\n(.*?)```", readme, re.S)
    assert found, "README.md has no ```sh walkthrough block"
    return found.group(1)


def manifests(root: Path, cluster_url: str) -> list[dict[str, Any]]:
    ns = {"namespace": "team-a"}
    storage_v, core_v = "storage.kubestash.com/v1alpha1", "core.kubestash.com/v1alpha1"
    return [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "repo-key", **ns},
         "stringData": {"RESTIC_PASSWORD": "walkthrough-password"}},
        {"apiVersion": storage_v, "kind": "BackupStorage", "metadata": {"name": "local", **ns},
         "spec": {"storage": {"provider": "local", "local": {"mountPath": str(root / "team-a")}}}},
        {"apiVersion": "appcatalog.appscode.com/v1alpha1", "kind": "AppBinding", "metadata": {"name": "es", **ns},
         "spec": {"clientConfig": {"url": cluster_url}}},
        {"apiVersion": core_v, "kind": "BackupConfiguration", "metadata": {"name": "nightly", **ns},
         "spec": {"target": {"name": "es"}, "paused": True, "backends": [{"name": "local", "storageRef": {"name": "local"}}],
                  "sessions": [{"name": "full", "scheduler": {"schedule": "0 2 * * *"},
                                "repositories": [{"name": "nightly-repo", "backend": "local",
                                                  "encryptionSecret": {"name": "repo-key"}}]}]}},
    ]


@pytest.mark.search_kinds("osmem")
def test_the_readme_curl_walkthrough_backs_up_waits_and_restores(live_server: Any, worker: Any, cluster: str,
                                                                 storage_root: Path) -> None:
    team = f.team("team-a", name="Team A")
    alice = f.user("alice", team, "owner")
    _, token = ApiToken.issue(team, "deploy pipeline", ApiToken.Scope.WRITE, alice)
    resources.apply(manifests(storage_root, cluster))  # paused: no instant backup, the walkthrough makes the first
    deadline = time.monotonic() + 60
    while not Repository.objects.filter(name="nightly-repo", phase="Ready").exists():
        assert time.monotonic() < deadline, "the repository was not initialized"
        time.sleep(0.5)
    out = ROOT / "test-output" / "api-walkthrough.txt"
    out.parent.mkdir(exist_ok=True)
    env = {**os.environ, "STASHBOARD_URL": live_server.url, "STASHBOARD_TOKEN": token, "PS4": "+ $(date +%T.%3N) "}
    script = "set -euo pipefail -x\n" + readme_walkthrough()
    run = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=300)
    transcript = (run.stdout + "\n--- commands (bash -x) ---\n" + run.stderr).replace(token, "$STASHBOARD_TOKEN")
    out.write_text(transcript)
    assert run.returncode == 0, transcript
    assert re.search(r"^backup nightly-full-\S+: Succeeded$", run.stdout, re.M), transcript
    assert "restore before-deploy: Succeeded" in run.stdout, transcript
    restored = es(cluster, "GET", "/_cat/indices/restored-*?format=json")
    assert sorted(i["index"] for i in restored) == ["restored-logs-a", "restored-logs-b"]
    es(cluster, "POST", "/restored-logs-a/_refresh")
    assert es(cluster, "GET", "/restored-logs-a/_count")["count"] == 1500
