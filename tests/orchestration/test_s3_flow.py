from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backups.models import BackupSession, Snapshot
from restores import flows as restore_flows
from storage.models import BackupStorage, Repository
from tests import factories as f
from tests.orchestration.conftest import work
from tests.orchestration.test_backup_flow import ready
from tests.peers.osmem import count, seed
from tests.peers.seaweedfs import SeaweedS3, start_seaweedfs

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with start_seaweedfs(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def test_backup_and_restore_through_a_real_s3_server(transactional_db: Any, queues: Any, s3: SeaweedS3, es_url: str, es_url2: str):
    bucket = s3.make_bucket("stash-orchestration")
    seed(es_url, "s3flow-1", 60)
    team = f.team("team-s3")
    creds = f.secret(team, "s3-creds", {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
    storage = f.storage(team, "seaweed", provider="s3", bucket=bucket, prefix="prod", endpoint=s3.endpoint,
                        path_style=True, region="us-east-1", secret=creds)
    repo = f.repository(team, "es-s3", storage_obj=storage, secret_obj=f.secret(team, "key", {"RESTIC_PASSWORD": "s3 pw"}))
    cluster = f.cluster(team, "es", url=es_url)
    config = f.configuration(team, "nightly", target=cluster, repositories=[repo])
    sc = config.sessions.get()
    sc.task_params = {"indices": "s3flow-*"}
    sc.save()
    ready({"storage": storage}, config)
    assert BackupStorage.objects.get().phase == "Ready", BackupStorage.objects.get().status_message
    assert BackupSession.objects.get().phase == "Succeeded", BackupSession.objects.get().error
    keys = [o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket)["Contents"]]
    assert "prod/metadata.yaml" in keys and "prod/es-s3/repository.yaml" in keys
    assert any(k.startswith("prod/es-s3/snapshots/") for k in keys)
    assert any(k.startswith("prod/es-s3/data/") for k in keys)
    restore = f.restore(team, Repository.objects.get(), f.cluster(team, "es2", url=es_url2), "from-s3",
                        task_params={"rename_pattern": "^(.*)$", "rename_replacement": "s3-\\1"})
    restore_flows.start_restore(restore)
    work()
    restore.refresh_from_db()
    assert restore.phase == "Succeeded", restore.error
    assert count(es_url2, "s3-s3flow-1") == 60 == Snapshot.objects.get().total_docs


def test_wrong_s3_credentials_leave_the_storage_not_ready_with_the_servers_reason(transactional_db: Any, queues: Any, s3: SeaweedS3):
    bucket = s3.make_bucket("stash-badcreds")
    team = f.team("team-bad")
    creds = f.secret(team, "s3-creds", {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": "wrong-secret"})
    storage = f.storage(team, "seaweed", provider="s3", bucket=bucket, endpoint=s3.endpoint, path_style=True,
                        region="us-east-1", secret=creds)
    from storage import jobs

    assert jobs.init_storage(storage.pk) == "NotReady"
    storage.refresh_from_db()
    assert storage.status_message and "wrong-secret" not in storage.status_message
    assert bucket in storage.status_message or s3.endpoint in storage.status_message
