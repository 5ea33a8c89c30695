from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from backups.models import BackupConfiguration, BackupSession, Snapshot
from storage.models import BackupStorage, Repository
from tests.fixtures.flows import work
from tests.peers.clusters import ONE_KIND
from tests.peers.osmem import count, seed

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


def test_applying_a_storage_a_cluster_and_a_configuration_produces_a_snapshot_by_itself(
    transactional_db, queues, local_root, es_url, tmp_path
):
    seed(es_url, "apply-1", 25)
    manifest = tmp_path / "team.yaml"
    manifest.write_text(f"""
apiVersion: v1
kind: Namespace
metadata: {{name: team-x}}
---
apiVersion: v1
kind: Secret
metadata: {{name: repo-key, namespace: team-x}}
stringData: {{RESTIC_PASSWORD: "a long repository password"}}
---
apiVersion: storage.kubestash.com/v1alpha1
kind: BackupStorage
metadata: {{name: local, namespace: team-x}}
spec:
  storage:
    provider: local
    local: {{mountPath: {local_root / "team-x"}}}
---
apiVersion: appcatalog.appscode.com/v1alpha1
kind: AppBinding
metadata: {{name: es, namespace: team-x}}
spec:
  clientConfig: {{url: "{es_url}"}}
---
apiVersion: core.kubestash.com/v1alpha1
kind: BackupConfiguration
metadata: {{name: nightly, namespace: team-x}}
spec:
  target: {{apiGroup: appcatalog.appscode.com, kind: AppBinding, name: es, namespace: team-x}}
  backends:
  - name: local
    storageRef: {{name: local, namespace: team-x}}
  sessions:
  - name: full
    scheduler: {{schedule: "0 3 * * *"}}
    repositories:
    - name: es-local
      backend: local
      directory: es/nightly
      encryptionSecret: {{name: repo-key, namespace: team-x}}
    addon:
      name: elasticsearch-addon
      tasks:
      - name: logical-backup
        params: {{indices: "apply-*"}}
""")
    call_command("apply", "-f", str(manifest), stdout=io.StringIO())
    work()
    assert BackupStorage.objects.get().phase == "Ready"
    assert Repository.objects.get().phase == "Ready"
    assert BackupConfiguration.objects.get().phase == "Ready"
    session = BackupSession.objects.get()
    assert (session.trigger, session.phase) == ("instant", "Succeeded"), session.error
    assert Snapshot.objects.get().components["dump"]["apply-1"]["docs"] == count(es_url, "apply-1") == 25
