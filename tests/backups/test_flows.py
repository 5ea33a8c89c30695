from __future__ import annotations

import os
import zlib
from datetime import UTC, datetime, timedelta

import django_rq
import pytest
from django.utils import timezone

from backups import flows
from backups import jobs as backup_jobs
from backups.management.commands.scheduler import Command as SchedulerCommand
from backups.models import BackupConfiguration, BackupSession, BackupSessionConfig, Snapshot
from runtime import reaper
from storage import flows as storage_flows
from storage import jobs as storage_jobs
from storage.models import BackupStorage, Repository
from tests import factories as f
from tests.fixtures.flows import make_config, ready, work
from tests.peers.clusters import ALL_KINDS, ONE_KIND
from tests.peers.osmem import es, seed
from tests.peers.receiver import http_receiver

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


@pytest.mark.search_kinds(*ALL_KINDS)  # the flow end to end once on each kind
def test_a_saved_configuration_gets_ready_and_its_instant_backup_lands_in_the_repository(world, es_url):
    seed(es_url, "orders-1", 120)
    config = make_config(world, "orders-*")
    ready(world, config)
    assert BackupStorage.objects.get().phase == "Ready"
    assert os.path.exists(os.path.join(world["storage"].mount_path, "metadata.yaml"))
    repo = Repository.objects.get()
    assert repo.phase == "Ready", repo.status_message
    config.refresh_from_db()
    assert config.phase == "Ready", config.status_message
    session = BackupSession.objects.get()
    assert (session.trigger, session.phase) == ("instant", "Succeeded"), session.error
    snap = Snapshot.objects.get()
    assert snap.phase == "Succeeded" and snap.snapshot_id
    dump = snap.components["dump"]
    assert dump["orders-1"]["docs"] == 120 and dump["orders-1"]["skipped_unchanged"] is False
    assert snap.total_docs == 120 and snap.size_bytes > 0
    assert (snap.progress["docs"], snap.progress["total_docs"]) == (120, 120)  # known before the dump started
    manifest = storage_flows.open_repository(repo).manifest(snap.snapshot_id)
    assert manifest.status == "Succeeded" and "indices/orders-1" in manifest.streams
    assert Repository.objects.get().snapshot_count == 1


def test_a_second_backup_of_an_unchanged_index_reads_nothing(world, es_url):
    seed(es_url, "stable-1", 50)
    config = make_config(world, "stable-*")
    ready(world, config)
    session = flows.trigger_backup(config.sessions.get(), "manual")
    work()
    session.refresh_from_db()
    assert session.phase == "Succeeded"
    snap = session.snapshots.get()
    assert snap.components["dump"]["stable-1"]["skipped_unchanged"] is True
    assert (snap.progress["docs"], snap.progress["total_docs"]) == (50, 50)  # an unchanged index counts as done


def test_an_overlapping_trigger_is_skipped_with_the_reason(world, es_url):
    seed(es_url, "busy-1", 10)
    config = make_config(world, "busy-*")
    config.phase = "Ready"
    config.save()
    first = flows.trigger_backup(config.sessions.get(), "manual")
    second = flows.trigger_backup(config.sessions.get(), "schedule")
    assert first.phase == "Pending"
    assert second.phase == "Skipped" and first.name in second.error and "still Pending" in second.error


def test_retention_is_applied_after_success(world, es_url):
    seed(es_url, "ret-1", 10)
    policy = f.retention(world["team"], "keep-2", keep_last=2)
    config = make_config(world, "ret-*", retention_obj=policy)
    ready(world, config)
    for _ in range(3):
        es(es_url, "PUT", "/ret-1/_doc/new?refresh=true", {"n": 1})  # a change each time
        flows.trigger_backup(config.sessions.get(), "manual")
        work()
    engine = storage_flows.open_repository(Repository.objects.get())
    assert len(engine.snapshot_ids()) == 2
    last = BackupSession.objects.filter(phase="Succeeded").order_by("-created").first()
    assert last.retention["repo"]["kept"] == 2 and len(last.retention["repo"]["removed"]) == 1
    assert Snapshot.objects.filter(phase="Succeeded").count() == 2


def test_a_backup_with_retention_derives_the_repository_key_once(world, es_url, monkeypatch):
    from storage.repo import crypto

    seed(es_url, "kdf-1", 5)
    config = make_config(world, "kdf-*", retention_obj=f.retention(world["team"], "keep-5", keep_last=5))
    ready(world, config)
    derived = []
    real = crypto.derive_key
    monkeypatch.setattr(crypto, "derive_key", lambda *a, **kw: derived.append(1) or real(*a, **kw))
    session = flows.trigger_backup(config.sessions.get(), "manual")
    work()
    session.refresh_from_db()
    assert session.phase == "Succeeded" and session.retention["repo"]["kept"] == 2   # nothing to prune
    assert len(derived) == 1   # the dump's open serves the retention too


def test_a_cron_session_fires_on_its_schedule_and_a_missed_run_is_recorded_not_replayed(world, es_url):
    seed(es_url, "cron-1", 5)
    config = make_config(world, "cron-*", schedule="0 * * * *")
    ready(world, config)  # and its instant backup
    assert BackupSession.objects.get(trigger="instant").phase == "Succeeded"
    sc = config.sessions.get()
    t0 = datetime(2026, 11, 25, 10, 0, 30, tzinfo=UTC)
    BackupSessionConfig.objects.filter(pk=sc.pk).update(last_scheduled=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    from backups import scheduler

    assert any("Pending" in a for a in scheduler.tick(now=t0))
    assert scheduler.tick(now=t0 + timedelta(seconds=20)) == []  # the same tick never fires twice
    work()
    assert BackupSession.objects.get(trigger="schedule").phase == "Succeeded"
    # The scheduler was down from 10:00 to 14:30: 11:00..14:00 are missed, one record, no burst.
    actions = scheduler.tick(now=datetime(2026, 11, 25, 14, 30, tzinfo=UTC))
    skipped = BackupSession.objects.get(phase="Skipped")
    assert "missed 4 scheduled run(s)" in skipped.error and actions == ["missed nightly/full x4"]
    assert BackupSession.objects.filter(phase="Pending").count() == 0
    # A changed schedule takes effect at the next turn.
    BackupSessionConfig.objects.filter(pk=sc.pk).update(schedule="*/5 * * * *")
    assert any("Pending" in a for a in scheduler.tick(now=datetime(2026, 11, 25, 14, 35, 10, tzinfo=UTC)))


def test_a_backup_whose_patterns_match_nothing_fails_and_commits_no_snapshot(world, es_url):
    seed(es_url, "present-1", 3)
    config = make_config(world, "tyop-*")
    ready(world, config)
    session = BackupSession.objects.get()
    snap = Snapshot.objects.get()
    assert (session.phase, snap.phase) == ("Failed", "Failed")
    assert "no index matches include ['tyop-*']" in snap.error and "present-1" in snap.error
    assert not snap.snapshot_id
    assert storage_flows.open_repository(Repository.objects.get()).snapshot_ids() == []  # nothing for keep-last


def test_a_configuration_whose_repository_has_the_wrong_password_shows_that_error(world, client):
    storage_flows.initialize_storage(world["storage"])
    work()
    assert storage_jobs.init_repository(world["repo"].pk) == "Ready"
    wrong = f.secret(world["team"], "wrong-key", {"RESTIC_PASSWORD": "not the password"})
    same = f.repository(world["team"], "same-dir", storage_obj=world["storage"], secret_obj=wrong,
                        directory=world["repo"].directory)
    config = f.configuration(world["team"], "nightly", target=world["cluster"], repositories=[same])
    flows.configuration_saved(config)
    work()
    config.refresh_from_db()
    reason = Repository.objects.get(pk=same.pk).status_message
    assert config.phase == "NotReady" and reason
    assert config.status_message == f"waiting for repositories: same-dir ({reason})"
    assert "initializing" not in config.status_message
    client.force_login(f.user("alice", world["team"]))
    page = client.get(f"/configurations/{config.uuid}/").content.decode()
    assert "password" in reason.lower() and "same-dir" in page and "initializing" not in page


def test_a_configuration_on_a_storage_that_failed_shows_the_storages_error(world, local_root):
    (local_root / "file").write_text("not a directory")
    bad = f.storage(world["team"], "bad", mount_path=str(local_root / "file"))
    repo = f.repository(world["team"], "on-bad", storage_obj=bad, secret_obj=world["secret"])
    config = f.configuration(world["team"], "nightly", target=world["cluster"], repositories=[repo])
    flows.configuration_saved(config)
    storage_flows.initialize_storage(bad)
    work()
    config.refresh_from_db()
    assert config.phase == "NotReady" and "initializing" not in config.status_message
    assert "waiting for storage 'bad' to be Ready" in config.status_message, config.status_message


def test_a_paused_configuration_is_not_scheduled(world):
    config = make_config(world, "x-*", schedule="* * * * *")
    BackupConfiguration.objects.filter(pk=config.pk).update(phase="Ready", paused=True)
    from backups import scheduler

    assert scheduler.tick(now=timezone.now() + timedelta(minutes=5)) == []


def test_only_the_leader_scheduler_acts(world):
    a, b = SchedulerCommand(), SchedulerCommand()
    for cmd, ident in ((a, "a"), (b, "b")):
        cmd.identity = ident
        cmd.redis = django_rq.get_connection("default")
    assert a.is_leader() and not b.is_leader() and a.is_leader()


def test_a_lost_leader_is_replaced_and_then_stands_down(world):
    import time

    from backups.management.commands.scheduler import LOCK_KEY

    a, b = SchedulerCommand(), SchedulerCommand()
    for cmd, ident in ((a, "a"), (b, "b")):
        cmd.identity = ident
        cmd.redis = django_rq.get_connection("default")
    assert a.is_leader() and not b.is_leader()
    assert 0 < a.redis.ttl(LOCK_KEY) <= 15 and a.redis.get(LOCK_KEY) == b"a"
    # a stops renewing (its process hangs or dies): Redis lets the lock expire
    a.redis.pexpire(LOCK_KEY, 1)
    time.sleep(0.05)
    assert b.is_leader() and a.redis.get(LOCK_KEY) == b"b"
    assert not a.is_leader() and b.is_leader()  # a comes back: it finds b holding the lock


def test_cancel_stops_a_pending_session_and_commits_nothing(world, es_url):
    seed(es_url, "cancel-1", 10)
    config = make_config(world, "cancel-*")
    ready(world, config)
    before = len(storage_flows.open_repository(Repository.objects.get()).snapshot_ids())
    session = flows.trigger_backup(config.sessions.get(), "manual")
    flows.cancel_session(session, type("U", (), {"username": "alice"})())
    work()
    session.refresh_from_db()
    assert session.phase == "Cancelled" and "alice" in session.error
    assert len(storage_flows.open_repository(Repository.objects.get()).snapshot_ids()) == before


def test_a_running_snapshot_cancelled_mid_dump_commits_nothing(world, es_url):
    seed(es_url, "cancel-2", 3000, shards=1)
    config = make_config(world, "cancel-2")
    sc = config.sessions.get()
    sc.task_params = {"indices": "cancel-2", "batch_size": 100, "max_docs_per_second": 1000}
    sc.save()
    BackupConfiguration.objects.filter(pk=config.pk).update(phase="Ready")
    storage_jobs.init_storage(world["storage"].pk)
    storage_jobs.init_repository(world["repo"].pk)
    session = flows.trigger_backup(sc, "manual")
    snap = session.snapshots.get()
    Snapshot.objects.filter(pk=snap.pk).update(cancel_requested_by="bob")  # seen at the first heartbeat
    django_rq.get_queue("backups").empty()
    backup_jobs.run_backup(snap.pk)
    session.refresh_from_db()
    snap.refresh_from_db()
    assert snap.phase == "Cancelled" and session.phase == "Cancelled" and "bob" in session.error
    assert storage_flows.open_repository(Repository.objects.get()).snapshot_ids() == []


def test_a_failing_pre_hook_fails_the_session_with_its_output(world, es_url):
    config = make_config(world, "hooks-*")
    sc = config.sessions.get()
    sc.hooks = {"preBackup": [{"name": "must-fail", "kind": "elasticsearch", "method": "GET", "path": "no-such-index/_count"}],
                "postBackup": [{"name": "flush", "kind": "elasticsearch", "method": "POST", "path": "_flush"}]}
    sc.save()
    ready(world, config)
    session = BackupSession.objects.get()
    assert session.phase == "Failed" and "pre-backup hook 'must-fail' failed" in session.error
    assert [h["name"] for h in session.hook_results] == ["must-fail", "flush"]
    assert session.hook_results[1]["ok"] is True  # post hooks run whatever the outcome


def test_hooks_run_once_per_session_not_once_per_repository(world, es_url):
    with http_receiver() as server:
        seed(es_url, "twice-1", 10)
        second = f.repository(world["team"], "repo-2", storage_obj=world["storage"], secret_obj=world["secret"])
        config = f.configuration(world["team"], "twice", target=world["cluster"], repositories=[world["repo"], second])
        sc = config.sessions.get()
        sc.task_params = {"indices": "twice-*"}
        sc.hooks = {"preBackup": [{"name": "pre", "kind": "http", "url": f"{server.url}/pre"}],
                    "postBackup": [{"name": "post", "kind": "http", "url": f"{server.url}/post"}]}
        sc.save()
        ready(world, config)
    session = BackupSession.objects.get()
    assert session.phase == "Succeeded" and session.snapshots.count() == 2, session.error
    assert [r.path for r in server.requests] == ["/pre", "/post"]
    assert [(h["name"], h["when"]) for h in session.hook_results] == [("pre", "preBackup"), ("post", "postBackup")]


def test_a_storage_that_cannot_be_initialized_says_why(world, local_root):
    bad = f.storage(world["team"], "bad", mount_path=str(local_root / "file"))
    (local_root / "file").write_text("not a directory")
    storage_jobs.init_storage(bad.pk)
    bad.refresh_from_db()
    assert bad.phase == "NotReady" and bad.status_message


def test_the_reaper_fails_a_row_whose_heartbeat_stopped(world):
    config = make_config(world, "r-*")
    BackupConfiguration.objects.filter(pk=config.pk).update(phase="Ready")
    session = flows.trigger_backup(config.sessions.get(), "manual")
    snap = session.snapshots.get()
    old = timezone.now() - timedelta(minutes=5)
    Snapshot.objects.filter(pk=snap.pk).update(phase="Running", started=old, heartbeat=old)
    assert reaper.reap_lost_jobs() == [snap.name]
    session.refresh_from_db()
    assert session.phase == "Failed" and "worker lost" in session.error


def test_secrets_never_appear_in_rq_job_arguments(world, es_url):
    seed(es_url, "sec-1", 3)
    creds = f.secret(world["team"], "es-creds", {"username": "elastic", "password": "Sup3r-Secret-PW"})
    world["cluster"].auth, world["cluster"].auth_secret = "basic", creds
    world["cluster"].save()
    config = make_config(world, "sec-*")
    BackupConfiguration.objects.filter(pk=config.pk).update(phase="Ready")
    storage_flows.initialize_storage(world["storage"])
    flows.trigger_backup(config.sessions.get(), "manual")
    conn = django_rq.get_connection("default")
    raw = b""
    for key in conn.keys("rq:job:*"):
        if conn.type(key) == b"hash":
            data = conn.hget(key, "data")
            text = zlib.decompress(data) if data else b""
            assert b"Sup3r-Secret-PW" not in text and b"pw-for-tests" not in text
            raw += text
    assert b"run_backup" in raw or b"init_storage" in raw


def test_the_scheduler_retries_what_is_not_ready_once_a_minute(world):
    cmd = SchedulerCommand()
    cmd.identity = "test"
    cmd.redis = django_rq.get_connection("default")
    assert cmd.reconcile() == [f"initialize storage {world['team'].pk}/local"]
    assert cmd.reconcile() == []  # not again within the minute
    work()
    assert BackupStorage.objects.get().phase == "Ready"
    assert Repository.objects.get().phase == "Ready"  # initialized after its storage


def test_wipeout_deletes_the_repositorys_files_and_delete_keeps_them(world, es_url):
    seed(es_url, "wipe-1", 5)
    config = make_config(world, "wipe-*")
    ready(world, config)
    repo = Repository.objects.get()
    repo_dir = os.path.join(world["storage"].mount_path, repo.directory)
    assert os.listdir(os.path.join(repo_dir, "snapshots"))
    config.delete()
    kept = f.repository(world["team"], "kept", storage_obj=BackupStorage.objects.get(), secret_obj=world["secret"])
    storage_jobs.init_repository(kept.pk)
    assert storage_flows.delete_repository(kept) is True
    assert os.path.exists(os.path.join(world["storage"].mount_path, "kept", "repository.yaml"))  # Delete keeps the files
    Repository.objects.filter(pk=repo.pk).update(deletion_policy="WipeOut")
    repo.refresh_from_db()
    assert storage_flows.delete_repository(repo) is False
    assert Repository.objects.get(pk=repo.pk).status_message.startswith("deleting")
    work()
    assert not Repository.objects.filter(pk=repo.pk).exists()
    remaining = [os.path.join(d, n) for d, _, names in os.walk(repo_dir) for n in names]
    assert remaining == []


def test_a_pending_snapshot_whose_job_was_lost_is_enqueued_again(world, es_url):
    seed(es_url, "lost-1", 7)
    config = make_config(world, "lost-*")
    ready(world, config)
    session = flows.trigger_backup(config.sessions.get(), "manual")
    assert reaper.requeue_lost_pending(timezone.now() + timedelta(minutes=5)) == []  # its job is queued
    django_rq.get_queue("backups").empty()  # Redis lost its queues
    assert reaper.requeue_lost_pending() == []  # not before the grace period
    later = timezone.now() + timedelta(minutes=5)
    assert reaper.requeue_lost_pending(later) == [f"requeued {session.snapshots.get().name}"]
    work()
    session.refresh_from_db()
    assert session.phase == "Succeeded"


def _flaky_cluster(world, es_url, failures: int):  # type: ignore[no-untyped-def]
    """The world's cluster behind a proxy that refuses the first `failures` requests."""
    from tests.fixtures.elastic import FaultProxy

    proxy = FaultProxy(es_url)
    left = [failures]

    def refuse(method, path, body):  # type: ignore[no-untyped-def]
        if left[0] <= 0:
            return None
        left[0] -= 1
        return 403, b'{"error":{"type":"security_exception","reason":"not yet"},"status":403}'

    proxy.rule = refuse
    world["cluster"].urls = proxy.url
    world["cluster"].save()
    return proxy


def test_a_failed_backup_job_is_run_again_as_its_backoff_limit_promises(world, es_url, settings):
    from backups.serializers import export_session

    settings.BACKUP_RETRY_DELAY = 0
    seed(es_url, "retry-1", 10)
    proxy = _flaky_cluster(world, es_url, failures=1)
    try:
        config = make_config(world, "retry-*", backoff_limit=1)  # the model's default, as exported
        ready(world, config)
    finally:
        proxy.close()
    session = BackupSession.objects.get()
    snap = session.snapshots.get()
    assert (session.phase, snap.phase, snap.attempts) == ("Succeeded", "Succeeded", 2), session.error
    assert snap.total_docs == 10 and snap.error == ""
    status = export_session(session)["status"]
    assert status["retried"] is True and status["snapshots"][0]["attempts"] == 2


def test_a_backup_that_keeps_failing_is_failed_after_its_last_attempt_and_waits_between(world, es_url, settings):
    settings.BACKUP_RETRY_DELAY = 30
    seed(es_url, "retry-2", 5)
    proxy = _flaky_cluster(world, es_url, failures=1000)
    try:
        config = make_config(world, "retry-*", backoff_limit=1)
        ready(world, config)
        snap = Snapshot.objects.get()
        assert (snap.phase, snap.attempts) == ("Pending", 1)
        assert "attempt 1 of 2 failed, retrying in 30s (backoffLimit 1)" in snap.error and "403" in snap.error
        assert backup_jobs.run_backup(snap.pk) == "not claimed"  # not before its delay
        assert reaper.requeue_lost_pending(timezone.now()) == []
        Snapshot.objects.filter(pk=snap.pk).update(not_before=timezone.now() - timedelta(seconds=1))  # 30 s later
        assert reaper.requeue_lost_pending(timezone.now()) == [f"requeued {snap.name}"]
        work()
    finally:
        proxy.close()
    snap.refresh_from_db()
    session = BackupSession.objects.get()
    assert (session.phase, snap.phase, snap.attempts) == ("Failed", "Failed", 2)
    assert snap.error.startswith("attempt 2 of 2 (backoffLimit 1): ") and "attempt 2 of 2" in session.error


def test_backoff_limit_0_fails_at_the_first_failure(world, es_url, settings):
    seed(es_url, "retry-3", 5)
    proxy = _flaky_cluster(world, es_url, failures=1)
    try:
        config = make_config(world, "retry-*", backoff_limit=0)
        ready(world, config)
    finally:
        proxy.close()
    snap = Snapshot.objects.get()
    assert (snap.phase, snap.attempts) == ("Failed", 1) and "403" in snap.error


def test_a_backup_triggered_before_its_repository_is_ready_waits_then_runs(world, es_url):
    """The reported order: the worker took the backups queue before the maintenance queue
    that held the repository's initialization."""
    from rq import SimpleWorker

    seed(es_url, "early-1", 15)
    storage_jobs.init_storage(world["storage"].pk)  # Ready; its repository is not initialized yet
    django_rq.get_queue("maintenance").empty()
    config = make_config(world, "early-*")
    session = flows.trigger_backup(config.sessions.get(), "manual")
    storage_flows.initialize_repository(world["repo"])  # queued behind the backup
    snap = session.snapshots.get()
    assert backup_jobs.run_backup(snap.pk) == "waiting for the repository"
    snap.refresh_from_db()
    session.refresh_from_db()
    assert (snap.phase, session.phase) == ("Pending", "Pending")
    assert "waiting for repository 'repo' to be Ready" in snap.error and "waiting for repository" in session.error
    queues = [django_rq.get_queue(n) for n in ("backups", "maintenance")]  # backups first, as reported
    SimpleWorker(queues, connection=queues[0].connection).work(burst=True)
    work()
    snap.refresh_from_db()
    session.refresh_from_db()
    assert (snap.phase, session.phase) == ("Succeeded", "Succeeded"), (snap.error, session.error)
    assert snap.total_docs == 15 and snap.error == "" and session.error == "" and snap.attempts == 1


def test_a_backup_whose_repository_never_gets_ready_fails_after_the_timeout(world, es_url, local_root, settings):
    settings.REPOSITORY_WAIT_TIMEOUT = 60
    bad = f.storage(world["team"], "bad", mount_path=str(local_root / "file"))
    (local_root / "file").write_text("not a directory")
    repo = f.repository(world["team"], "never", storage_obj=bad, secret_obj=world["secret"])
    config = f.configuration(world["team"], "never", target=world["cluster"], repositories=[repo])
    session = flows.trigger_backup(config.sessions.get(), "manual")
    snap = session.snapshots.get()
    assert backup_jobs.run_backup(snap.pk) == "waiting for the repository"
    assert reaper.requeue_lost_pending(timezone.now()) == []  # looked at again in 30 s, not before
    # 61 s later
    Snapshot.objects.filter(pk=snap.pk).update(waiting_since=timezone.now() - timedelta(seconds=61),
                                               not_before=timezone.now() - timedelta(seconds=1))
    assert backup_jobs.run_backup(snap.pk) == "Failed"
    snap.refresh_from_db()
    session.refresh_from_db()
    assert snap.phase == "Failed" and "repository 'never' was not Ready within 60s" in snap.error
    assert session.phase == "Failed" and "was not Ready within 60s" in session.error
