"""The issue's "done when": a user who creates a storage, a cluster and a configuration
in the admin sees a snapshot appear without doing anything else, and can restore it."""
from __future__ import annotations

from typing import Any

import pytest

from backups.models import BackupConfiguration, BackupSession, Cluster, Snapshot
from restores.models import RestoreSession
from storage.models import BackupStorage, Repository, Secret
from tests import factories as f
from tests.fixtures.flows import work
from tests.peers.clusters import ONE_KIND
from tests.peers.osmem import count, seed

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


def inline(prefix: str, rows: list[dict[str, Any]], initial: int = 0) -> dict[str, Any]:
    data: dict[str, Any] = {f"{prefix}-TOTAL_FORMS": len(rows), f"{prefix}-INITIAL_FORMS": initial,
                            f"{prefix}-MIN_NUM_FORMS": 0, f"{prefix}-MAX_NUM_FORMS": 1000}
    for i, row in enumerate(rows):
        data.update({f"{prefix}-{i}-{k}": v for k, v in row.items()})
    return data


def test_objects_created_in_the_admin_back_up_and_restore_by_themselves(
    transactional_db: Any, queues: Any, local_root: Any, es_url: str, es_url2: str, client: Any
):
    seed(es_url, "admin-1", 40)
    team = f.team("ops")
    alice = f.user("alice", team, "owner", is_staff=True)
    client.force_login(alice)

    def post(url: str, data: dict[str, Any]) -> None:
        response = client.post(url, data)
        assert response.status_code == 302, response.content.decode()[:3000]

    post("/admin/storage/secret/add/", {"team": team.pk, "name": "repo-key", "description": "",
                                        "values": "RESTIC_PASSWORD=admin flow password", "remove_keys": ""})
    post("/admin/storage/backupstorage/add/", {
        "team": team.pk, "name": "local", "provider": "local", "mount_path": str(local_root / "ops"),
        "deletion_policy": "Delete", "bucket": "", "prefix": "", "endpoint": "", "region": "", "storage_account": "",
        "ca_bundle": "",
    })
    post("/admin/backups/cluster/add/", {"team": team.pk, "name": "es", "urls": es_url, "auth": "none", "timeout": 60,
                                         "verify_tls": "on", "ca_bundle": ""})
    post("/admin/storage/repository/add/", {
        "team": team.pk, "name": "es-local", "storage": BackupStorage.objects.get().pk, "directory": "es",
        "encryption_secret": Secret.objects.get().pk, "deletion_policy": "Delete",
    })
    post("/admin/backups/backupconfiguration/add/", {
        "team": team.pk, "name": "nightly", "target": Cluster.objects.get().pk, "timezone": "UTC",
        **inline("sessions", [{"name": "full", "schedule": "0 2 * * *", "repositories": [Repository.objects.get().pk],
                               "retention_policy": "", "task_params": '{"indices": "admin-*"}', "hooks": "{}",
                               "session_history_limit": 30, "backoff_limit": 1}]),
    })
    work()
    assert BackupStorage.objects.get().phase == "Ready"
    assert BackupConfiguration.objects.get().phase == "Ready", BackupConfiguration.objects.get().status_message
    session = BackupSession.objects.get()
    assert (session.trigger, session.phase) == ("instant", "Succeeded"), session.error
    assert Snapshot.objects.get().components["dump"]["admin-1"]["docs"] == 40

    post("/admin/backups/cluster/add/", {"team": team.pk, "name": "es2", "urls": es_url2, "auth": "none", "timeout": 60,
                                         "verify_tls": "on", "ca_bundle": ""})
    post("/admin/restores/restoresession/add/", {
        "team": team.pk, "name": "from-admin", "target": Cluster.objects.get(name="es2").pk,
        "repository": Repository.objects.get().pk, "snapshot": "latest",
        "task_params": '{"rename_pattern": "^(.*)$", "rename_replacement": "admin-restored-\\\\1"}', "hooks": "{}",
    })
    work()
    restore = RestoreSession.objects.get()
    assert restore.phase == "Succeeded", restore.error
    assert restore.created_by == "alice"
    assert count(es_url2, "admin-restored-admin-1") == 40
