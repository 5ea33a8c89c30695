"""Resume (issue 16.3): a real worker process killed with SIGKILL about halfway through a
backup or restore of N documents; the next attempt reads or sends at most 60% of the
documents again, and the result equals the source. The source is seeded once per search
kind for both tests (they only read it)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from typing import Any

import django_rq
import orjson
import pytest
from django.utils import timezone

from backups import jobs as backup_jobs
from backups.models import Snapshot
from restores import flows as restore_flows
from restores import jobs as restore_jobs
from restores.models import RestoreSession
from runtime import reaper
from storage import flows as storage_flows
from storage.models import Repository
from tests import factories as f
from tests.fixtures.flows import make_config, ready, work
from tests.peers.osmem import count, es

pytestmark = [pytest.mark.slow]

# 100,000 documents: the backup is throttled to N/20 a second, so the kill lands about 10 s
# in whatever N is; the restore of ten indices of N/10 still takes several heartbeats (1 s)
# to reach half. STASHBOARD_TEST_RESUME_DOCS=300000 runs the size (seeding osmem is
# ~1,000 documents a second under `nice` on 2 busy cores, ~10x that when idle).
N = int(os.environ.get("STASHBOARD_TEST_RESUME_DOCS", "100000"))
PAD = "x" * 60
BATCH = 5000


def seed_many(url: str, names: list[str], shards: int) -> None:
    per = N // len(names)
    for name in names:
        es(url, "DELETE", f"/{name}")
        es(url, "PUT", f"/{name}", {"settings": {"number_of_shards": shards, "number_of_replicas": 0,
                                                 "refresh_interval": "-1"}})
        for start in range(0, per, BATCH):
            lines = b"".join(b'{"index":{"_index":"%s","_id":"%s-%d"}}\n{"n":%d,"pad":"%s"}\n'
                             % (name.encode(), name.encode(), i, i, PAD.encode()) for i in range(start, min(per, start + BATCH)))
            assert not es(url, "POST", "/_bulk", ndjson=lines).get("errors")
        es(url, "POST", f"/{name}/_refresh")


def layout(search: Any) -> tuple[list[str], int]:
    """osmem has no point in time: ten indices (whole-index resume); a real engine: one
    index of three shards read as three slices (search_after resume)."""
    if search.is_real:
        return ["big-0"], 3
    return [f"big-{i}" for i in range(10)], 1


def start_worker(settings: Any, queue: str) -> subprocess.Popen[bytes]:
    from django.db import connection

    env = {**os.environ, "REDIS_URL": settings.RQ_QUEUES[queue]["URL"], "DJANGO_SETTINGS_MODULE": "dashboard.settings",
           "STASHBOARD_TEST_DB_NAME": connection.settings_dict["NAME"], "STASHBOARD_BACKUP_CHECKPOINT_SECONDS": "1"}
    return subprocess.Popen([sys.executable, "-m", "tests.fixtures.worker_main", queue], env=env, cwd=os.getcwd())


def kill_halfway(worker: subprocess.Popen[bytes], model: Any, pk: int) -> int:
    """SIGKILL once the row's progress passes half of N; returns the documents it showed.
    The deadline only guards a stuck worker: on a loaded machine half of N takes minutes,
    and a kill at the deadline (before half) would make the <= 60% checks fail."""
    deadline = time.monotonic() + 300
    docs = 0
    while time.monotonic() < deadline and worker.poll() is None:
        row = model.objects.get(pk=pk)
        docs = int((row.progress or {}).get("docs") or 0)
        if row.phase == "Running" and docs >= N // 2:
            break
        time.sleep(0.1)
    assert worker.poll() is None, "the worker finished before it could be killed"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    return docs


@pytest.fixture(scope="module")
def big_indices(search: Any, es_url: str, es_url2: str) -> Any:
    """The source, seeded once per search kind for this module's tests, which only read it;
    too many documents to leave in the shared servers for the next modules."""
    names, shards = layout(search)
    seed_many(es_url, names, shards)
    yield names
    for url in (es_url, es_url2):
        for i in range(10):
            es(url, "DELETE", f"/big-{i}")


def reap(settings: Any) -> list[str]:
    return reaper.reap_lost_jobs(now=timezone.now() + timedelta(seconds=settings.REAPER_TIMEOUT + 2))


@pytest.mark.search_kinds("osmem", "elasticsearch-8")
def test_a_backup_killed_halfway_resumes_from_its_checkpoint(world, es_url, search, settings, big_indices):
    settings.BACKUP_RETRY_DELAY = 0
    settings.BACKUP_CHECKPOINT_SECONDS = 1
    names = big_indices
    config = make_config(world, "big-*", paused=True, backoff_limit=1)
    sc = config.sessions.get()
    # resumable_bytes 0: Elasticsearch reads even these small indices with a point in time
    sc.task_params = {"indices": "big-*", "batch_size": 2000, "slices": 3, "max_docs_per_second": N // 20,
                      "resumable_bytes": 0}
    sc.save()
    ready(world, config)
    from backups import flows

    snap = flows.trigger_backup(sc, "manual").snapshots.get()
    shown = kill_halfway(start_worker(settings, "backups"), Snapshot, snap.pk)
    assert reap(settings) == [f"{snap.name} (retrying)"]
    repo = Repository.objects.get()
    engine = storage_flows.open_repository(repo)
    assert engine.snapshot_ids() == [] and len(engine.checkpoints()) == 1   # a checkpoint, never a snapshot
    Snapshot.objects.filter(pk=snap.pk).update(not_before=timezone.now())
    django_rq.get_queue("backups").enqueue(backup_jobs.run_backup, snap.pk)   # the re-queued run
    work()
    snap.refresh_from_db()
    assert snap.phase == "Succeeded", snap.error
    dump = snap.components["dump"]
    read = sum(i["docs_read"] for i in dump.values())
    print(f"resumed backup read {read} of {N} documents (the killed run showed {shown})")
    assert sum(i["docs"] for i in dump.values()) == N and read <= 0.6 * N, (read, shown)
    assert snap.components["resumed_from"]["indices"], snap.components
    manifest = engine.manifest(snap.snapshot_id)
    assert manifest.meta["resumed_from"] and engine.checkpoints() == []
    for name in names:   # the snapshot holds every document of the source, once, as it is
        lines = [orjson.loads(line) for line in b"".join(engine.read_stream(manifest, f"indices/{name}")).splitlines()]
        per = N // len(names)
        assert sorted(int(d["_id"].rsplit("-", 1)[1]) for d in lines) == list(range(per))
        assert all(d["_source"] == {"n": int(d["_id"].rsplit("-", 1)[1]), "pad": PAD} for d in lines)
    assert engine.check(read_data=True).ok


@pytest.mark.search_kinds("osmem")  # the target is an osmem-server (es_url2) whatever the source
def test_a_restore_killed_halfway_resumes_and_verifies(world, es_url, es_url2, settings, big_indices):
    assert big_indices == [f"big-{i}" for i in range(10)]   # osmem's layout
    ready(world, make_config(world, "big-*"))
    target = f.cluster(world["team"], "es2", url=es_url2)
    restore = f.restore(world["team"], Repository.objects.get(), target, "restore-big", task_params={"parallelism": 1})
    restore_flows.start_restore(restore)
    shown = kill_halfway(start_worker(settings, "restores"), RestoreSession, restore.pk)
    assert reap(settings) == [f"{restore.name} (resuming)"]
    restore.refresh_from_db()
    assert restore.phase == "Pending" and "attempt 1 of 3 was lost" in restore.error
    before = restore.components["resume"]["indices"]
    assert sum(1 for i in before.values() if i["state"] == "verified") >= 4, (before, shown)
    django_rq.get_queue("restores").enqueue(restore_jobs.run_restore, restore.pk)   # as the scheduler requeues it
    work()
    restore.refresh_from_db()
    assert restore.phase == "Succeeded", restore.error
    load = restore.components["load"]
    sent = sum(i["docs"] for i in load.values())
    print(f"resumed restore sent {sent} of {N} documents (the killed run showed {shown})")
    assert sent <= 0.6 * N, (sent, shown)
    assert sorted(i.get("resumed", "") for i in load.values()).count("verified") == len(
        [i for i in before.values() if i["state"] == "verified"])
    assert all(i["status"] == "Succeeded" and i["count"] == N // 10 for i in load.values()), json.dumps(load)[:2000]
    assert restore.progress["docs"] == N   # the run's progress counts what earlier attempts did
    for i in range(10):
        assert count(es_url2, f"big-{i}") == N // 10
        src = es(es_url2, "GET", f"/big-{i}/_doc/big-{i}-{N // 20}")["_source"]
        assert src == {"n": N // 20, "pad": PAD}
