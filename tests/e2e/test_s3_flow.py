from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from backups.models import BackupSession, Snapshot
from storage.models import BackupStorage, Repository
from tests import factories as f
from tests.fixtures.flows import ready, run_restore
from tests.peers.clusters import ONE_KIND
from tests.peers.osmem import count, seed
from tests.peers.seaweedfs import SeaweedS3, start_seaweedfs

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


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
    assert any(k.startswith("prod/es-s3/packs/") for k in keys) and any(k.startswith("prod/es-s3/index/") for k in keys)
    restore = run_restore(team, Repository.objects.get(), f.cluster(team, "es2", url=es_url2), "from-s3",
                          rename_pattern="^(.*)$", rename_replacement="s3-\\1")
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


def _s3_world(s3: SeaweedS3, bucket: str, es_url: str, index: str, **params: Any) -> Any:
    team = f.team("team-outage")
    creds = f.secret(team, "s3-creds", {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
    storage = f.storage(team, "seaweed", provider="s3", bucket=bucket, prefix="p", endpoint=s3.endpoint,
                        path_style=True, region="us-east-1", secret=creds)
    repo = f.repository(team, "es-s3", storage_obj=storage, secret_obj=f.secret(team, "key", {"RESTIC_PASSWORD": "pw"}))
    config = f.configuration(team, "nightly", target=f.cluster(team, "es", url=es_url), repositories=[repo])
    sc = config.sessions.get()
    sc.task_params = {"indices": index, **params}
    sc.save()
    return team, storage, config


def test_a_15s_s3_outage_in_the_middle_of_a_backup_is_ridden_out_and_loses_nothing(
        transactional_db: Any, queues: Any, s3: SeaweedS3, es_url: str, es_url2: str, caplog: Any) -> None:
    import logging
    import threading
    import time

    from tests.peers.osmem import es

    bucket = s3.make_bucket("stash-outage")
    index, n = "outage-1", 12_000
    es(es_url, "DELETE", f"/{index}")
    es(es_url, "PUT", f"/{index}", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    for start in range(0, n, 2000):
        lines = b"".join(b'{"index":{"_index":"%s","_id":"d%d"}}\n{"n":%d,"pad":"%s"}\n'
                         % (index.encode(), i, i, os.urandom(400).hex().encode()) for i in range(start, start + 2000))
        es(es_url, "POST", "/_bulk?refresh=true", ndjson=lines)
    # ~10 MB read at 1500 docs/s: the backup runs ~8 s, and the storage goes away in its middle
    team, storage, config = _s3_world(s3, bucket, es_url, index, max_docs_per_second=1500, batch_size=500)
    client = s3.client()
    times: dict[str, float] = {}

    def outage() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            # the backup holds its lock: it is reading the index (its packs go up as they fill)
            listed = client.list_objects_v2(Bucket=bucket, Prefix="p/es-s3/locks/").get("KeyCount", 0)
            if listed >= 1:
                break
            time.sleep(0.1)
        times["down"] = time.monotonic()
        s3.stop()
        times["stopped"] = time.monotonic()
        time.sleep(15)
        s3.start()
        times["up"] = time.monotonic()

    watcher = threading.Thread(target=outage)
    with caplog.at_level(logging.INFO, logger="storage.backends.retrying"):
        watcher.start()
        ready({"storage": storage}, config)
        watcher.join()
    session = BackupSession.objects.get()
    assert session.phase == "Succeeded", session.error
    snap = Snapshot.objects.get()
    assert snap.total_docs == n
    retried = [r for r in caplog.records if "failed (attempt" in r.getMessage()]
    recovered = [r for r in caplog.records if "succeeded after" in r.getMessage()]
    assert retried and recovered
    # time from the server taking writes again (start() returns once it does) to the first
    # storage call that got through, and the gap between the last refused try and that one
    def wall(t: float) -> float:
        return time.time() - (time.monotonic() - t)

    first_through = min(r.created for r in recovered)
    last_refused = max(r.created for r in retried)
    print(f"\nS3 unavailable {times['up'] - times['down']:.1f}s (stopping took {times['stopped'] - times['down']:.1f}s, "
          f"15 s stopped, starting took {times['up'] - times['stopped'] - 15:.1f}s); {len(retried)} retried tries of "
          f"{len(recovered)} calls; first call through {first_through - wall(times['up']):+.2f}s from the restart, "
          f"{first_through - last_refused:.2f}s after the last refused try; backup {snap.duration:.1f}s, "
          f"{snap.total_docs} of {n} documents")
    assert first_through - wall(times["up"]) < 8
    restore = run_restore(team, Repository.objects.get(), f.cluster(team, "es2", url=es_url2), "after-outage",
                          rename_pattern="^(.*)$", rename_replacement="o-\\1")
    assert restore.phase == "Succeeded", restore.error
    assert count(es_url2, "o-outage-1") == n  # documents lost: 0
