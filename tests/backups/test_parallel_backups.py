"""Backups that run at once (issue 13, point 12), with real worker processes: writes to a
shared row are database-side (F() expressions) or under its row lock, so none is lost.

To make the race certain rather than likely, the test holds the shared row's lock
(SELECT … FOR UPDATE) while the workers reach their write, then lets them all go: a
read-then-write job reads the old value and writes over the other's."""
from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import pytest
from django.db import connection, transaction

from backups import flows
from backups.models import BackupSession, Snapshot
from storage.models import Repository
from tests import factories as f
from tests.fixtures.flows import ready, work
from tests.peers.clusters import ONE_KIND
from tests.peers.osmem import seed

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


def start_workers(settings: Any, n: int) -> list[subprocess.Popen[bytes]]:
    env = {**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
           "REDIS_URL": settings.RQ_QUEUES["backups"]["URL"], "DJANGO_SETTINGS_MODULE": "dashboard.settings",
           "STASHBOARD_TEST_DB_NAME": connection.settings_dict["NAME"]}
    return [subprocess.Popen([sys.executable, "-m", "tests.fixtures.worker_main", "backups"], env=env,
                             cwd=os.getcwd()) for _ in range(n)]


def lock_waiters() -> int:
    with connection.cursor() as c:
        c.execute("SELECT pg_stat_clear_snapshot()")  # else a transaction sees its first snapshot only
        c.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                  "AND wait_event_type = 'Lock'")
        return int(c.fetchone()[0])


def wait_for(condition: Any, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            with connection.cursor() as c:
                c.execute("SELECT state, wait_event_type, wait_event, left(query, 120) FROM pg_stat_activity "
                          "WHERE datname = current_database()")
                activity = c.fetchall()
            raise AssertionError(f"timed out; snapshots {list(Snapshot.objects.values_list('phase', 'error'))}; "
                                 f"database {activity}")
        time.sleep(0.1)


def test_two_backups_into_one_repository_at_once_both_count_in_its_size(world, es_url, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks and pg_stat_activity")
    seed(es_url, "par-a-1", 300)
    seed(es_url, "par-b-1", 200)
    configs = []
    for name, index in (("par-a", "par-a-*"), ("par-b", "par-b-*")):
        config = f.configuration(world["team"], name, target=world["cluster"], repositories=[world["repo"]], paused=True)
        sc = config.sessions.get()
        sc.task_params = {"indices": index}
        sc.save()
        configs.append(config)
    ready(world, configs[0])
    flows.configuration_saved(configs[1])
    work()
    repo = Repository.objects.get()
    assert repo.phase == "Ready" and repo.size_bytes == 0
    for config in configs:
        flows.trigger_backup(config.sessions.get(), "manual")
    with transaction.atomic():
        Repository.objects.select_for_update().get(pk=repo.pk)  # both jobs reach their write, then wait
        workers = start_workers(settings, 2)
        wait_for(lambda: lock_waiters() >= 2)
    for w in workers:
        assert w.wait(timeout=120) == 0
    snaps = list(Snapshot.objects.all())
    assert [s.phase for s in snaps] == ["Succeeded", "Succeeded"], [s.error for s in snaps]
    repo.refresh_from_db()
    assert all(s.uploaded_bytes > 0 for s in snaps)
    assert repo.size_bytes == sum(s.uploaded_bytes for s in snaps)
    assert repo.snapshot_count == 2


def test_the_repositories_of_one_session_finishing_at_once_keep_each_ones_retention(world, es_url, settings):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL's row locks and pg_stat_activity")
    seed(es_url, "par-r-1", 400)
    second = f.repository(world["team"], "repo-2", storage_obj=world["storage"], secret_obj=world["secret"])
    config = f.configuration(world["team"], "par-r", target=world["cluster"], repositories=[world["repo"], second],
                             retention_obj=f.retention(world["team"], "keep-3", keep_last=3), paused=True)
    sc = config.sessions.get()
    sc.task_params = {"indices": "par-r-*", "max_docs_per_second": 400, "batch_size": 100}
    sc.save()
    ready(world, config)
    session = flows.trigger_backup(sc, "manual")
    workers = start_workers(settings, 2)
    # once both jobs are past starting the session, hold its row while they finish
    wait_for(lambda: BackupSession.objects.get(pk=session.pk).phase == "Running"
             and Snapshot.objects.filter(backup_session=session, phase="Running").count() == 2)
    time.sleep(0.3)
    with transaction.atomic():
        BackupSession.objects.select_for_update().get(pk=session.pk)
        wait_for(lambda: lock_waiters() >= 2)
    for w in workers:
        assert w.wait(timeout=120) == 0
    session.refresh_from_db()
    assert session.phase == "Succeeded", session.error
    assert sorted(session.retention) == ["repo", "repo-2"]
    assert all(v["kept"] == 1 for v in session.retention.values())
