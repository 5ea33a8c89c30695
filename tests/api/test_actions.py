"""The actions and the long poll, through /api/v1 with alice's read-write token."""
from __future__ import annotations

import time
from typing import Any

from backups.models import BackupSession, Snapshot
from restores.models import RestoreSession
from tests.api.conftest import Api


def test_backup_now_makes_a_session_and_enqueues_its_snapshot(world: dict[str, Any], rw: Api,
                                                              django_capture_on_commit_callbacks: Any) -> None:
    world["running"].phase = "Succeeded"
    world["running"].save()
    with django_capture_on_commit_callbacks() as callbacks:
        answer = rw.post("/backupconfigurations/nightly/backup", {"session": "full"})
    assert answer.status_code == 201, answer.content
    doc = answer.json()
    assert doc["kind"] == "BackupSession" and doc["spec"]["trigger"] == "manual" and doc["status"]["phase"] == "Pending"
    session = BackupSession.objects.get(name=doc["metadata"]["name"])
    assert session.team == world["a"] and Snapshot.objects.filter(backup_session=session).count() == 1
    assert len(callbacks) == 1  # one backup job per snapshot, on commit
    missing = rw.post("/backupconfigurations/nightly/backup", {"session": "hourly"})
    assert missing.status_code == 400 and missing.json()["errors"][0]["path"] == "session"
    assert "use one of full" in missing.json()["detail"]
    assert rw.post("/backupconfigurations/nightly/backup", {"colour": "x"}).status_code == 400


def test_cancel_a_running_session_and_a_pending_restore(world: dict[str, Any], rw: Api) -> None:
    answer = rw.post("/backupsessions/nightly-running/cancel")
    assert answer.status_code == 200, answer.content
    assert Snapshot.objects.get(name="nightly-running-repo").cancel_requested_by == "API token rw token"
    restore = rw.post("/restoresessions/restore-2/cancel")
    assert restore.status_code == 200 and restore.json()["status"]["phase"] == "Cancelled"
    again = rw.post("/restoresessions/restore-2/cancel")
    assert again.status_code == 409 and "already Cancelled" in again.json()["detail"]
    assert rw.post("/backupsessions/nightly-done/cancel").status_code == 409


def test_start_a_restore(world: dict[str, Any], rw: Api, django_capture_on_commit_callbacks: Any) -> None:
    doc = {"apiVersion": "core.kubestash.com/v1alpha1", "kind": "RestoreSession", "metadata": {"name": "from-api"},
           "spec": {"target": {"name": "es"}, "dataSource": {"repository": "repo", "snapshot": "latest"},
                    "addon": {"name": "elasticsearch-addon", "tasks": [{"name": "logical-backup-restore",
                                                                        "params": {"indices": "logs-*"}}]}},
           "status": {"phase": "Succeeded"}}
    with django_capture_on_commit_callbacks() as callbacks:
        answer = rw.post("/restoresessions", doc)
    assert answer.status_code == 201, answer.content
    assert answer.json()["status"]["phase"] == "Pending"  # a status in the body is ignored: it is Stashboard's
    assert RestoreSession.objects.get(name="from-api").task_params == {"indices": "logs-*"}
    assert len(callbacks) == 1
    assert rw.delete("/restoresessions/from-api").status_code == 409  # still pending: cancel it first
    assert rw.delete("/restoresessions/restore-1").status_code == 204


def test_check_a_repository_and_list_its_snapshots_and_indices(world: dict[str, Any], rw: Api,
                                                               django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks() as callbacks:
        answer = rw.post("/repositories/repo/check", {"readData": True})
    assert answer.status_code == 202 and answer.json()["kind"] == "Repository"
    assert len(callbacks) == 1
    snaps = rw.get("/repositories/repo/snapshots")
    assert [d["metadata"]["name"] for d in snaps.json()["items"]] == ["nightly-running-repo", "nightly-done-repo"]
    page = rw.get("/repositories/repo/snapshots", limit=1)
    assert len(page.json()["items"]) == 1 and page.json()["metadata"]["remainingItemCount"] == 1
    indices = rw.get("/snapshots/nightly-done-repo/indices").json()
    assert [(i["name"], i["docs"], i["bytes"]) for i in indices["items"]] == [("logs-1", 10, 1024)]
    # the manifest is not in this test's (empty) repository: said, not hidden
    assert indices["manifestError"].startswith("Could not read the manifest")


def test_wait_answers_at_once_when_completed_and_at_the_timeout_otherwise(world: dict[str, Any], rw: Api, settings: Any) -> None:
    settings.API_WAIT_POLL = 0.1
    start = time.monotonic()
    assert rw.get("/backupsessions/nightly-done", wait=30).json()["status"]["phase"] == "Succeeded"
    assert time.monotonic() - start < 2
    start = time.monotonic()
    answer = rw.get("/backupsessions/nightly-running", wait=1)
    assert 1 <= time.monotonic() - start < 3
    assert answer.status_code == 200 and answer.json()["status"]["phase"] == "Running"
    settings.API_MAX_WAIT = 0
    start = time.monotonic()
    rw.get("/restoresessions/restore-2", wait=60)
    assert time.monotonic() - start < 1  # capped by STASHBOARD_API_MAX_WAIT
    assert rw.get("/backupsessions/nightly-done", wait=61).status_code == 400


def test_verify_now_starts_a_run_of_the_newest_snapshot_and_says_when_there_is_none(
        world: dict[str, Any], rw: Api, django_capture_on_commit_callbacks: Any) -> None:
    from audit.models import Entry
    from restores.models import VerificationRun

    with django_capture_on_commit_callbacks() as callbacks:
        answer = rw.post("/backupverifiers/weekly-check/verify")
    assert answer.status_code == 202, answer.content
    doc = answer.json()
    assert doc["kind"] == "BackupVerifier" and doc["status"]["lastRun"]["phase"] == "Pending"
    assert doc["status"]["lastRun"]["snapshotID"] == "ab" * 32 and doc["status"]["lastRun"]["trigger"] == "manual"
    run = VerificationRun.objects.get()
    assert run.team == world["a"] and run.snapshot == world["snapshot"] and len(callbacks) == 1
    entry = Entry.objects.get(action="verify-now")
    assert entry.via == "api" and entry.target_name == "weekly-check" and entry.team == world["a"]
    Snapshot.objects.filter(pk=world["snapshot"].pk).update(phase="Failed")
    none = rw.post("/backupverifiers/weekly-check/verify")
    assert none.status_code == 409 and "no successful snapshot" in none.json()["detail"]
    assert VerificationRun.objects.count() == 1
