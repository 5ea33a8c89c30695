"""Real snapshots for the pages that read the repository (snapshot browser, restore dry
run, charts): team A's cluster on the run's search server, a local storage, and backups
run in this process by the real job function. tests/dashboard/conftest.py makes the
fixtures available to every test there; `queues` is tests/conftest.py's."""
from __future__ import annotations

from typing import Any

import pytest

from backups import jobs as backup_jobs
from backups.flows import trigger_backup
from backups.models import BackupConfiguration, Snapshot
from storage import jobs as storage_jobs
from tests import factories as f
from tests.peers.clusters import SearchCluster
from tests.peers.osmem import es, reset, seed

DOCS = {"logs-a": 40, "logs-b": 25, "users": 10}


def backup_now(config: BackupConfiguration) -> Snapshot:
    """Run a backup of `config` here: the pending one (the instant backup a ready
    repository triggers), or a new manual one."""
    snap = Snapshot.objects.filter(backup_session__configuration=config, phase="Pending").first()
    if snap is None:
        snap = trigger_backup(config.sessions.get(), "manual").snapshots.get()
    outcome = backup_jobs.run_backup(snap.pk)
    snap.refresh_from_db()
    assert outcome == "Succeeded" and snap.phase == "Succeeded", (outcome, snap.error)
    return snap


@pytest.fixture
def backed_up(transactional_db: Any, queues: None, search: SearchCluster, settings: Any, tmp_path: Any) -> dict[str, Any]:
    """Team A (alice owner, bob viewer), team B (charlie); two snapshots of team A's
    cluster: the second after logs-a grew, logs-b was deleted and events was added."""
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    reset(search.url)
    for index, n in DOCS.items():
        seed(search.url, index, n, shards=1)
    es(search.url, "POST", "/_aliases", {"actions": [{"add": {"index": "users", "alias": "people"}}]})
    es(search.url, "PUT", "/_index_template/logs-template", {"index_patterns": ["logs-*"], "template": {"settings": {}}})
    a, b = f.team("team-a", name="Team A"), f.team("team-b", name="Team B")
    users = {"alice": f.user("alice", a, "owner"), "bob": f.user("bob", a, "viewer"), "charlie": f.user("charlie", b, "owner")}
    storage = f.storage(a, "local", mount_path=str(tmp_path / "team-a"))
    cluster = f.cluster(a, "es", url=search.url)
    repo = f.repository(a, "repo", storage_obj=storage, secret_obj=f.secret(a, "repo-key", {"RESTIC_PASSWORD": "pw-tests"}))
    config = f.configuration(a, "nightly", target=cluster, repositories=[repo])
    storage_jobs.init_storage(storage.pk)
    storage_jobs.init_repository(repo.pk)
    BackupConfiguration.objects.filter(pk=config.pk).update(phase="Ready")
    first = backup_now(config)
    seed(search.url, "logs-a", 55, shards=1)
    es(search.url, "DELETE", "/logs-b")
    seed(search.url, "events", 7, shards=1)
    second = backup_now(config)
    return {"a": a, "b": b, **users, "storage": storage, "cluster": cluster, "repo": repo, "config": config,
            "first": first, "second": second, "url": search.url}
