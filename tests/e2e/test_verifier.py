"""BackupVerifier (issue 16.1), the orchestration half, on osmem: after every N-th backup
or on its schedule a run restores the snapshot under verify-<id>-, checks it, deletes
what it restored and records Verified / Failed on the snapshot; a failure notifies; a
prefix holding someone else's indices is refused."""
from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.core import mail
from django.utils import timezone

from backups import flows
from backups.models import Snapshot
from restores import flows as restore_flows
from restores.models import BackupVerifier, VerificationRun
from runtime import reaper
from tests.fixtures.flows import make_config, ready, work
from tests.peers.osmem import es, seed

pytestmark = [pytest.mark.slow, pytest.mark.search_kinds("osmem")]


def verifier(world: dict[str, Any], **kw: Any) -> BackupVerifier:
    kw.setdefault("every_n_backups", 2)
    v = BackupVerifier(team=world["team"], name=kw.pop("name", "weekly-check"), repository=world["repo"],
                       target=world["cluster"], **kw)
    v.full_clean()
    v.save()
    return v


def under(es_url: str, prefix: str) -> list[str]:
    return sorted(row["index"] for row in es(es_url, "GET", f"/_cat/indices/{prefix}*?format=json") or [])


def backed_up(world: dict[str, Any], es_url: str, index: str, docs: int = 40) -> Any:
    seed(es_url, index, docs)
    config = make_config(world, index)
    ready(world, config)
    return config.sessions.get()


def test_every_second_backup_is_verified_and_the_restore_is_deleted(world: dict[str, Any], es_url: str) -> None:
    session_config = backed_up(world, es_url, "verify-me")
    v = verifier(world)
    world["team"].notify_emails = "ops@example.com"
    world["team"].save()
    flows.trigger_backup(session_config, "manual")
    work()
    assert not VerificationRun.objects.exists()
    assert BackupVerifier.objects.get().backups_seen == 1
    flows.trigger_backup(session_config, "manual")
    work()
    run = VerificationRun.objects.get()
    assert (run.phase, run.trigger, run.error) == ("Succeeded", "backup", "")
    newest = Snapshot.objects.order_by("-created")[0]
    assert run.snapshot == newest and newest.verification == "Verified" and newest.verified is not None
    assert newest.verification_details["indices"]["verify-me"]["docs"] == 40
    # the newest backup reused the unchanged stream; the first one read it and recorded the digest
    first = Snapshot.objects.order_by("created")[0]
    assert newest.verification_details["indices"]["verify-me"]["digest"] == \
        first.components["dump"]["verify-me"]["digest"]["value"]
    assert under(es_url, v.prefix) == [] and BackupVerifier.objects.get().owned_indices == []
    assert BackupVerifier.objects.get().backups_seen == 0 and mail.outbox == []


def test_a_failed_check_marks_the_snapshot_and_notifies(world: dict[str, Any], es_url: str) -> None:
    backed_up(world, es_url, "verify-q")
    v = verifier(world, every_n_backups=None, schedule="0 6 * * *",
                 queries=[{"index": "verify-q", "query": {"match_all": {}}, "hits": 41}])
    world["team"].notify_emails = "ops@example.com"
    world["team"].save()
    [run] = restore_flows.verify_now(v)
    work()
    run.refresh_from_db()
    assert run.phase == "Failed" and run.error == "query on verify-q: 40 hits, expected 41"
    snap = Snapshot.objects.get()
    assert snap.verification == "Failed" and "expected 41" in snap.verification_details["error"]
    assert len(mail.outbox) == 1 and "Verification of snapshot" in mail.outbox[0].subject
    assert under(es_url, v.prefix) == []


def test_a_prefix_holding_indices_it_did_not_create_is_refused(world: dict[str, Any], es_url: str) -> None:
    backed_up(world, es_url, "verify-f")
    v = verifier(world)
    es(es_url, "PUT", f"/{v.prefix}someone-elses")
    [run] = restore_flows.verify_now(v)
    work()
    run.refresh_from_db()
    assert run.phase == "Failed"
    assert f"already holds indices under {v.prefix} that this verifier did not create ({v.prefix}someone-elses)" in run.error
    assert Snapshot.objects.get().verification == ""  # nothing was checked
    assert under(es_url, v.prefix) == [f"{v.prefix}someone-elses"]


def test_what_a_crashed_run_left_behind_is_deleted_not_refused(world: dict[str, Any], es_url: str) -> None:
    backed_up(world, es_url, "verify-c")
    v = verifier(world)
    es(es_url, "PUT", f"/{v.prefix}verify-c")
    BackupVerifier.objects.filter(pk=v.pk).update(owned_indices=[f"{v.prefix}verify-c"])
    v.refresh_from_db()
    [run] = restore_flows.verify_now(v)
    work()
    run.refresh_from_db()
    assert run.phase == "Succeeded", run.error
    assert under(es_url, v.prefix) == []


def test_the_schedule_starts_runs_and_each_new_snapshot_is_verified_once(world: dict[str, Any], es_url: str) -> None:
    session_config = backed_up(world, es_url, "verify-s")
    flows.trigger_backup(session_config, "manual")
    work()
    v = verifier(world, every_n_backups=None, schedule="*/10 * * * *", snapshots="EachNew")
    base = v.created.replace(second=0, microsecond=0)
    tick = base + timedelta(minutes=10 - base.minute % 10)
    assert restore_flows.schedule_verifications(tick + timedelta(seconds=5)) == [f"verify {world['team'].slug}/{v.name} x2"]
    assert restore_flows.schedule_verifications(tick + timedelta(seconds=6)) == []  # the tick is claimed
    work()
    assert sorted(Snapshot.objects.values_list("verification", flat=True)) == ["Verified", "Verified"]
    assert restore_flows.snapshots_to_verify(BackupVerifier.objects.get()) == []


def test_the_reaper_fails_a_verification_whose_worker_died(world: dict[str, Any], es_url: str) -> None:
    backed_up(world, es_url, "verify-r")
    v = verifier(world)
    run = restore_flows.start_verification(v, Snapshot.objects.get())
    VerificationRun.objects.filter(pk=run.pk).update(phase="Running", started=timezone.now() - timedelta(hours=1),
                                                     heartbeat=timezone.now() - timedelta(hours=1))
    world["team"].notify_emails = "ops@example.com"
    world["team"].save()
    assert run.name in reaper.reap_lost_jobs()
    run.refresh_from_db()
    assert run.phase == "Failed" and run.error.startswith("worker lost")
    assert any("Verification of snapshot" in m.subject and "worker lost" in m.body for m in mail.outbox)


def test_a_run_pairing_a_verifier_with_another_teams_snapshot_touches_nothing(world: dict[str, Any], es_url: str) -> None:
    """Team B's verifier (charlie's team) given team A's snapshot by a row made outside the
    flows: the job fails saying why, restores nothing, and team A's snapshot is unchanged."""
    from restores import jobs
    from tests import factories as f

    backed_up(world, es_url, "verify-t")
    team_b = f.team("team-b")
    theirs = f.verifier(team_b, "theirs", f.repository(team_b, "their-repo", storage_obj=f.storage(team_b, "b-local")),
                        f.cluster(team_b, "b-es", url=es_url))
    world["team"].notify_emails = "ops-a@example.com"
    world["team"].save()
    run = VerificationRun.objects.create(team=team_b, verifier=theirs, snapshot=Snapshot.objects.get())
    assert jobs.run_verification(run.pk) == "Failed"
    run.refresh_from_db()
    assert "is not of repository their-repo" in run.error and run.components == {}
    assert Snapshot.objects.get().verification == "" and under(es_url, theirs.prefix) == []
    assert all("ops-a@example.com" not in m.to for m in mail.outbox)
