from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from backups import flows
from backups.models import BackupSession, Snapshot
from restores.models import RestoreSession
from runtime import reaper
from storage import flows as storage_flows
from storage.models import Repository
from tests import factories as f
from tests.fixtures.flows import make_config, ready, run_restore, work
from tests.peers.clusters import ALL_KINDS, ONE_KIND
from tests.peers.osmem import count, es, seed
from tests.peers.receiver import http_receiver
from tests.storage.damage import corrupt_chunk

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


@pytest.mark.search_kinds(*ALL_KINDS)  # the flow end to end once on each kind
def test_restore_of_latest_into_a_second_cluster_with_counts_verified(world, es_url, es_url2):
    seed(es_url, "shop-1", 80)
    seed(es_url, "shop-2", 40)
    config = make_config(world, "shop-*")
    ready(world, config)
    target = f.cluster(world["team"], "es2", url=es_url2)
    restore = run_restore(world["team"], Repository.objects.get(), target, "restore-shop",
                          rename_pattern="^shop-(.*)$", rename_replacement="restored-shop-\\1")
    assert restore.phase == "Succeeded", restore.error
    load = restore.components["load"]
    assert load["restored-shop-1"]["docs"] == 80 and load["restored-shop-2"]["docs"] == 40
    assert count(es_url2, "restored-shop-1") == 80 and count(es_url2, "restored-shop-2") == 40
    assert restore.resolved_snapshot_id == Snapshot.objects.get().snapshot_id


def test_a_restore_whose_patterns_match_nothing_fails_naming_the_snapshots_indices(world, es_url, es_url2):
    seed(es_url, "kept-1", 5)
    ready(world, make_config(world, "kept-*"))
    target = f.cluster(world["team"], "es2", url=es_url2)
    restore = run_restore(world["team"], Repository.objects.get(), target, "restore-typo", indices="kep-*")
    assert restore.phase == "Failed"
    assert "no index matches include ['kep-*']" in restore.error and "the snapshot has kept-1" in restore.error


def test_a_restore_that_conflicts_says_which_index_failed(world, es_url):
    seed(es_url, "conf-1", 5)
    config = make_config(world, "conf-*")
    ready(world, config)
    restore = run_restore(world["team"], Repository.objects.get(), world["cluster"], "restore-conflict")
    assert restore.phase == "Failed" and "conf-1" in restore.error


def test_a_corrupt_chunk_fails_its_index_and_the_restore_goes_on_with_the_others(world, es_url, es_url2):
    for n, name in enumerate(("part-1", "part-2", "part-3")):
        seed(es_url, name, 30 + n)  # not the same documents: no chunk shared between them
    config = make_config(world, "part-*")
    ready(world, config)
    repo = Repository.objects.get()
    engine = storage_flows.open_repository(repo)
    manifest = engine.latest()
    broken = manifest.streams["indices/part-2"].chunks[0]
    corrupt_chunk(engine, broken, at=30, width=8)
    target = f.cluster(world["team"], "es2", url=es_url2)
    restore = run_restore(world["team"], repo, target, "restore-corrupt", on_index_failure="delete")
    load = restore.components["load"]
    assert restore.phase == "Failed"
    assert {k: v["status"] for k, v in load.items()} == {"part-1": "Succeeded", "part-2": "Failed", "part-3": "Succeeded"}
    assert load["part-1"]["docs"] == 30 and load["part-3"]["docs"] == 32 and load["part-1"]["bytes"] > 0
    assert broken in load["part-2"]["error"] and "1 of 3 indices failed: part-2:" in restore.error
    assert broken in restore.error and "deleted" in restore.error
    assert count(es_url2, "part-1") == 30 and count(es_url2, "part-3") == 32


def test_restore_command_waits_and_exits_nonzero_on_failure(world: dict[str, Any], es_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    seed(es_url, "cmd-1", 5)
    config = make_config(world, "cmd-*")
    ready(world, config)
    # The commands run in a thread and wait; this thread is the worker (RQ wants the main thread).
    errors: list = []

    def commands():
        from django.db import connection

        try:
            with pytest.raises(CommandError) as e:
                call_command("restore", "--repository", "team-a/repo", "--target", "team-a/es", "--wait", "--timeout", "60")
            assert "Failed" in str(e.value) and "cmd-1" in str(e.value)
            call_command("restore", "--repository", "team-a/repo", "--target", "team-a/es", "--conflict", "overwrite",
                         "--wait", "--timeout", "60", "--name", "restore-ok")
            assert RestoreSession.objects.get(name="restore-ok").phase == "Succeeded"
            call_command("backup_now", "team-a/nightly", "--wait", "--timeout", "60")
        except BaseException as e:  # reported by the main thread
            errors.append(e)
        finally:
            connection.close()

    t = threading.Thread(target=commands)
    t.start()
    while t.is_alive():
        work()
        time.sleep(0.2)
    t.join()
    if errors:
        raise errors[0]
    out = capsys.readouterr().out
    assert "restore-ok: Succeeded" in out and "Succeeded" in out.splitlines()[-1]


def test_a_failure_and_the_recovery_are_notified_to_the_teams_webhook(world, es_url):
    with http_receiver() as server:
        team = world["team"]
        team.webhook_url = f"{server.url}/hook"
        team.save()
        seed(es_url, "notify-1", 5)
        config = make_config(world, "notify-*")
        sc = config.sessions.get()
        sc.hooks = {"preBackup": [{"name": "gate", "kind": "elasticsearch", "method": "GET", "path": "missing-index-x/_count"}]}
        sc.save()
        ready(world, config)
        assert BackupSession.objects.get().phase == "Failed"
        sc.hooks = {}
        sc.save()
        flows.trigger_backup(sc, "manual")
        work()
    texts = [r.json()["text"] for r in server.requests]
    assert len(texts) == 2 and "failed" in texts[0] and "recovered" in texts[1]


def test_metrics_are_exposed(world, es_url, client):
    seed(es_url, "metrics-1", 5)
    ready(world, make_config(world, "metrics-*"))
    body = client.get("/metrics").content.decode()
    assert 'stashboard_backup_sessions{configuration="nightly",phase="Succeeded",session="full",team="team-a"} 1.0' in body
    assert 'stashboard_repository_snapshots{repository="repo",team="team-a"} 1.0' in body
    assert "stashboard_backup_last_success_timestamp_seconds" in body and 'stashboard_queue_length{queue="backups"}' in body


def test_a_worker_killed_mid_backup_is_reaped_commits_nothing_and_the_next_run_succeeds(world, es_url, settings):
    seed(es_url, "kill-1", 4000, shards=1)
    config = make_config(world, "kill-1")
    sc = config.sessions.get()
    sc.task_params = {"indices": "kill-1", "batch_size": 200, "max_docs_per_second": 800}
    sc.save()
    ready(world, config)  # first run (throttled: ~5 s)
    repo = Repository.objects.get()
    before = storage_flows.open_repository(repo).snapshot_ids()
    es(es_url, "PUT", "/kill-1/_doc/changed?refresh=true", {"n": -1})
    session = flows.trigger_backup(sc, "manual")
    env = {**os.environ, "DATABASE_URL": os.environ.get("DATABASE_URL", ""),
           "REDIS_URL": settings.RQ_QUEUES["backups"]["URL"], "DJANGO_SETTINGS_MODULE": "dashboard.settings"}
    from django.db import connection

    env["STASHBOARD_TEST_DB_NAME"] = connection.settings_dict["NAME"]
    worker = subprocess.Popen([sys.executable, "-m", "tests.fixtures.worker_main"], env=env, cwd=os.getcwd())
    snap = session.snapshots.get()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        snap.refresh_from_db()
        if snap.phase == "Running" and (snap.progress or {}).get("docs", 0) > 0:
            break
        time.sleep(0.2)
    assert snap.phase == "Running"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    # The reaper acts once the heartbeat is older than its timeout.
    assert reaper.reap_lost_jobs(timeout=60) == []
    from django.utils import timezone

    reaped = reaper.reap_lost_jobs(now=timezone.now() + timedelta(seconds=settings.REAPER_TIMEOUT + 2))
    assert reaped == [snap.name]
    session.refresh_from_db()
    assert session.phase == "Failed" and "worker lost" in session.error
    engine = storage_flows.open_repository(repo)
    assert engine.snapshot_ids() == before
    engine.unlock()  # the dead worker's lock expires by itself; unlock removes it now
    flows.trigger_backup(sc, "manual")
    work()
    assert BackupSession.objects.order_by("-created").first().phase == "Succeeded"
    assert storage_flows.open_repository(repo).check().ok


def test_failures_are_mailed_and_a_stale_schedule_alerts_once(world, es_url, settings, mailoutbox):
    from datetime import timedelta

    import django_rq
    from django.utils import timezone

    from backups.management.commands.scheduler import Command as SchedulerCommand
    from backups.models import BackupConfiguration

    team = world["team"]
    team.notify_emails = "oncall@example.com\nsearch-team@example.com"
    team.stale_after_hours = 1
    team.save()
    config = make_config(world, "mail-*")
    sc = config.sessions.get()
    sc.hooks = {"preBackup": [{"name": "gate", "kind": "elasticsearch", "method": "GET", "path": "missing-index-y/_count"}]}
    sc.save()
    ready(world, config)
    assert len(mailoutbox) == 1 and "failed" in mailoutbox[0].subject
    assert mailoutbox[0].to == ["oncall@example.com", "search-team@example.com"]
    BackupConfiguration.objects.filter(pk=config.pk).update(created=timezone.now() - timedelta(hours=3))
    cmd = SchedulerCommand()
    cmd.identity, cmd.redis = "t", django_rq.get_connection("default")
    assert cmd.stale_alerts(timezone.now()) == ["stale nightly/full"]
    assert cmd.stale_alerts(timezone.now()) == []  # once per staleness window
    assert "No successful backup of nightly/full" in mailoutbox[-1].subject


def _corrupt_chunk(world, repo, chunk_id):  # type: ignore[no-untyped-def]
    corrupt_chunk(storage_flows.open_repository(repo), chunk_id, at=30, width=8)


def test_scheduled_checks_read_every_chunk_over_a_cycle_and_a_bad_one_is_found_and_notified(world, es_url, settings,
                                                                                          mailoutbox):
    from backups.management.commands.scheduler import Command as SchedulerCommand
    from storage.repo.check import in_subset

    settings.CHECK_READ_DATA_SUBSETS = 3
    for n in range(6):
        seed(es_url, f"chk-{n}", 20 + n)  # different documents: a chunk each
    ready(world, make_config(world, "chk-*"))
    world["team"].notify_emails = "ops@example.com"
    world["team"].save()
    repo = Repository.objects.get()
    chunks = {c for s in storage_flows.open_repository(repo).latest().streams.values() for c in s.chunks}
    bad = sorted(chunks)[2]
    _corrupt_chunk(world, repo, bad)
    turns = []
    for _ in range(3):
        Repository.objects.filter(pk=repo.pk).update(last_check=None)  # due again
        assert SchedulerCommand().schedule_checks(timezone.now()) == [f"check {repo.display_name()}"]
        work()
        repo.refresh_from_db()
        turns.append((repo.last_check_result["read_data_subset"], repo.integrity, repo.last_check_result["chunks_read"]))
    assert [t[0] for t in turns] == ["1/3", "2/3", "3/3"] and repo.check_cycle == 3
    assert sum(t[2] for t in turns) == len(chunks)  # every chunk read once over the cycle
    holder = next(n for n in (1, 2, 3) if in_subset(bad, n, 3))
    assert [t[1] for t in turns] == [n != holder for n in (1, 2, 3)]
    assert len(mailoutbox) == 1 and "failed its check" in mailoutbox[0].subject and bad in mailoutbox[0].body


def test_check_now_on_the_dashboard_can_read_all_data(world, es_url, client):
    seed(es_url, "chkall-1", 20)
    ready(world, make_config(world, "chkall-*"))
    repo = Repository.objects.get()
    bad = next(iter(storage_flows.open_repository(repo).latest().streams.values())).chunks[0]
    _corrupt_chunk(world, repo, bad)
    client.force_login(f.user("alice", world["team"]))
    url = f"/repositories/{repo.uuid}/check/"
    client.post(url)
    work()
    repo.refresh_from_db()
    assert repo.integrity is True and repo.last_check_result["read_data"] is False  # present: the quick check passes
    page = client.get(f"/repositories/{repo.uuid}/").content.decode()
    assert "Check and read all data" in page
    client.post(url, {"read_data": "1"})
    work()
    repo.refresh_from_db()
    assert repo.integrity is False and repo.last_check_result["read_data"] is True
    assert repo.last_check_result["bad_chunks"] == [bad]


def _in_thread(fn, *args):  # type: ignore[no-untyped-def]
    """Run a job function in a thread (its own database connection), keep its result."""
    from django.db import connection

    out: list[Any] = []

    def run() -> None:
        try:
            out.append(fn(*args))
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, out


def wait_until_mid_way(row: Any, timeout: float = 30) -> None:
    """Until the job's row is Running with documents counted (or `timeout` passes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.phase == "Running" and (row.progress or {}).get("docs", 0) > 0:
            return
        time.sleep(0.1)


def test_a_job_reaped_as_lost_but_still_running_does_not_write_over_the_reaper(world, es_url, settings):
    from backups import jobs as backup_jobs

    es(es_url, "DELETE", "/alive-1")
    seed(es_url, "alive-1", 3000)
    config = make_config(world, "alive-*", paused=True)  # ready without its instant backup
    sc = config.sessions.get()
    sc.task_params = {"indices": "alive-*", "max_docs_per_second": 400, "batch_size": 100}
    sc.save()
    ready(world, config)
    session = flows.trigger_backup(sc, "manual")
    snap = session.snapshots.get()
    thread, result = _in_thread(backup_jobs.run_backup, snap.pk)
    wait_until_mid_way(snap)
    # The worker is alive but, say, its heartbeat could not be written for a while.
    reaped = reaper.reap_lost_jobs(now=timezone.now() + timedelta(seconds=settings.REAPER_TIMEOUT + 2))
    assert reaped == [snap.name]
    reaped_row = Snapshot.objects.values("phase", "error", "finished").get(pk=snap.pk)
    thread.join(60)
    assert result == ["lost claim"]  # it noticed, stopped, and wrote no outcome
    assert Snapshot.objects.values("phase", "error", "finished").get(pk=snap.pk) == reaped_row
    assert reaped_row["phase"] == "Failed" and "worker lost" in reaped_row["error"]
    session.refresh_from_db()
    assert session.phase == "Failed" and "worker lost" in session.error
    assert storage_flows.open_repository(Repository.objects.get()).snapshot_ids() == []  # it committed nothing


def test_a_restore_reaped_as_lost_but_still_running_does_not_write_over_the_reaper(world, es_url, es_url2, settings):
    from restores import jobs as restore_jobs
    from tests.fixtures.elastic import FaultProxy

    seed(es_url, "ralive-1", 1200)
    ready(world, make_config(world, "ralive-*"))
    proxy = FaultProxy(es_url2)

    def slow(method, path, body):  # type: ignore[no-untyped-def]
        if "_bulk" in path:
            time.sleep(0.2)
        return None

    proxy.rule = slow
    try:
        target = f.cluster(world["team"], "slow", url=proxy.url)
        restore = f.restore(world["team"], Repository.objects.get(), target, "slow-restore",
                            task_params={"bulk_bytes": 10000, "parallelism": 1, "metadata": "",
                                         "rename_pattern": "^(.*)$", "rename_replacement": "alive-\\1"})
        thread, result = _in_thread(restore_jobs.run_restore, restore.pk)
        wait_until_mid_way(restore)
        reaped = reaper.reap_lost_jobs(now=timezone.now() + timedelta(seconds=settings.REAPER_TIMEOUT + 2))
        assert reaped == [f"{restore.name} (resuming)"]   # back to Pending for its next attempt
        row = RestoreSession.objects.values("phase", "error", "finished", "components").get(pk=restore.pk)
        thread.join(60)
    finally:
        proxy.close()
    assert result == ["lost claim"]
    assert RestoreSession.objects.values("phase", "error", "finished", "components").get(pk=restore.pk) == row
    assert row["phase"] == "Pending" and "attempt 1 of 3 was lost, resuming: worker lost" in row["error"]


def test_a_lost_restore_without_attempts_left_is_failed(world, es_url, es_url2, settings):
    settings.RESTORE_ATTEMPTS = 1
    seed(es_url, "rlost-1", 5)
    ready(world, make_config(world, "rlost-*"))
    target = f.cluster(world["team"], "es2", url=es_url2)
    restore = f.restore(world["team"], Repository.objects.get(), target, "lost-restore")
    RestoreSession.objects.filter(pk=restore.pk).update(phase="Running", claim="dead", started=timezone.now(),
                                                        heartbeat=timezone.now())
    reaped = reaper.reap_lost_jobs(now=timezone.now() + timedelta(seconds=settings.REAPER_TIMEOUT + 2))
    assert reaped == [restore.name]
    restore.refresh_from_db()
    assert restore.phase == "Failed" and "worker lost" in restore.error


def test_a_killed_job_with_retries_left_is_run_again_not_failed(world, es_url, settings):
    settings.BACKUP_RETRY_DELAY = 0
    seed(es_url, "killed-1", 20)
    config = make_config(world, "killed-*", paused=True, backoff_limit=1)
    ready(world, config)
    session = flows.trigger_backup(config.sessions.get(), "manual")
    snap = session.snapshots.get()
    # as a worker killed mid-job leaves it: Running, first attempt, heartbeat stopped
    Snapshot.objects.filter(pk=snap.pk).update(phase="Running", attempts=1, claim="dead", started=timezone.now(),
                                               heartbeat=timezone.now())
    reaped = reaper.reap_lost_jobs(now=timezone.now() + timedelta(seconds=settings.REAPER_TIMEOUT + 2))
    assert reaped == [f"{snap.name} (retrying)"]
    snap.refresh_from_db()
    assert snap.phase == "Pending" and "attempt 1 of 2 failed" in snap.error and "worker lost" in snap.error
    Snapshot.objects.filter(pk=snap.pk).update(not_before=timezone.now())  # the reaper ran 32 s "later"
    work()  # the job still queued from the trigger claims the Pending row again
    snap.refresh_from_db()
    session.refresh_from_db()
    assert (snap.phase, snap.attempts, session.phase) == ("Succeeded", 2, "Succeeded")
