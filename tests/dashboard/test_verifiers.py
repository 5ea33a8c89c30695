"""Verifier pages (issue 16.1): alice creates, edits and starts them; bob (viewer) gets
403; charlie (team B) neither sees nor uses team A's verifier, repository or cluster."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Entry
from restores.models import BackupVerifier, VerificationRun

pytestmark = pytest.mark.django_db


def form(world: dict[str, Any], **kw: Any) -> dict[str, Any]:
    data = {"name": "nightly-check", "repository": world["repo"].pk, "target": world["cluster"].pk,
            "schedule": "0 6 * * *", "every_n_backups": "", "snapshots": "Latest", "random_docs": "0", "queries_json": ""}
    data.update(kw)
    return data


def test_alice_creates_a_verifier_and_bad_input_says_what_to_fix(world: dict[str, Any], alice: Client) -> None:
    u = reverse("restores:verifier-new")
    r = alice.post(u, form(world, schedule="", queries_json='[{"index": "logs-1", "query": {"match_all": {}}}]'))
    body = r.content.decode()
    assert r.status_code == 400 and "Set a schedule, or verify after every N backups" in body
    assert "Query 1 needs hits" in body and "logs-1" in body  # what was typed stays
    r = alice.post(u, form(world, queries_json="[{"))
    assert r.status_code == 400 and "Not valid JSON at line 1" in r.content.decode()
    r = alice.post(u, form(world, queries_json='[{"index": "logs-1", "query": {"match_all": {}}, "hits": 10}]'))
    assert r.status_code == 302
    v = BackupVerifier.objects.get(name="nightly-check")
    assert v.team == world["a"] and v.queries[0]["hits"] == 10 and v.prefix == f"verify-{v.uuid.hex[:8]}-"
    page = alice.get(reverse("restores:verifier-detail", args=[v.uuid])).content.decode()
    assert v.prefix in page and "0 6 * * *" in page
    created = Entry.objects.get(target_kind="BackupVerifier", action="created")
    assert (created.actor, created.target_name, created.team) == ("alice", "nightly-check", world["a"])
    same_queries = '[{"hits": 10, "query": {"match_all": {}}, "index": "logs-1"}]'  # spaced and ordered otherwise
    alice.post(reverse("restores:verifier-edit", args=[v.uuid]), form(world, schedule="0 7 * * *", queries_json=same_queries))
    assert Entry.objects.get(target_kind="BackupVerifier", action="changed").fields == ["schedule"]
    alice.post(reverse("restores:verifier-delete", args=[v.uuid]))
    assert not BackupVerifier.objects.filter(pk=v.pk).exists()
    assert Entry.objects.filter(target_kind="BackupVerifier", action="deleted", target_name="nightly-check").exists()


def test_bob_cannot_change_or_start_and_charlie_cannot_see(world: dict[str, Any], bob: Client, charlie: Client) -> None:
    v = world["verifier"]
    run = reverse("restores:verifier-run", args=[v.uuid])
    edit = reverse("restores:verifier-edit", args=[v.uuid])
    assert bob.post(run).status_code == 403 and charlie.post(run).status_code == 404
    assert bob.post(edit, form(world, name="renamed")).status_code == 403
    assert charlie.post(edit, form(world, name="renamed")).status_code == 404
    assert not VerificationRun.objects.exists() and BackupVerifier.objects.get(pk=v.pk).name == "weekly-check"
    assert not Entry.objects.filter(target_kind="BackupVerifier").exists()
    assert "weekly-check" not in charlie.get(reverse("restores:verifier-list")).content.decode()
    assert "weekly-check" in bob.get(reverse("restores:verifier-list")).content.decode()


def test_charlie_cannot_point_his_verifier_at_team_a(world: dict[str, Any], charlie: Client) -> None:
    r = charlie.post(reverse("restores:verifier-new"), form(world))
    body = r.content.decode()
    assert r.status_code == 400 and "Select a valid choice" in body
    assert not BackupVerifier.objects.filter(team=world["b"]).exists()


def test_verify_now_starts_a_run_per_snapshot_and_says_so(world: dict[str, Any], alice: Client) -> None:
    v = world["verifier"]
    r = alice.post(reverse("restores:verifier-run", args=[v.uuid]), follow=True)
    run = VerificationRun.objects.get()
    assert run.verifier == v and run.trigger == "manual" and run.phase == "Pending"
    assert run.snapshot.snapshot_id == "ab" * 32  # the newest successful snapshot
    assert "Verifying 1 snapshot(s) of repo into es" in r.content.decode()
    entry = Entry.objects.get(action="verify-now")
    assert (entry.actor, entry.target_name, entry.team) == ("alice", v.name, world["a"])
    assert entry.details == {"snapshots": ["ab" * 32], "target_cluster": "es"}


def test_snapshot_rows_and_the_configuration_show_the_verification(world: dict[str, Any], alice: Client) -> None:
    repo_page = alice.get(reverse("storage:repository-detail", args=[world["repo"].uuid])).content.decode()
    assert "badge-bad\">Failed</span>" in repo_page and "9 documents restored" in repo_page
    config_page = alice.get(reverse("backups:configuration-detail", args=[world["config"].uuid])).content.decode()
    assert "last verified restore" in config_page
    overview = alice.get(reverse("dashboard:overview")).content.decode()
    assert "verified restore failed" in overview


def test_the_overview_and_the_configuration_say_when_the_last_verified_restore_was(
        world: dict[str, Any], alice: Client, charlie: Client) -> None:
    from datetime import timedelta

    from django.utils import timezone

    from backups.models import Snapshot

    Snapshot.objects.filter(pk=world["snapshot"].pk).update(verification="Verified",
                                                             verified=timezone.now() - timedelta(hours=3))
    overview = alice.get(reverse("dashboard:overview")).content.decode()
    assert "last verified restore 3h 0m ago" in overview and "verified restore failed" not in overview
    config_page = alice.get(reverse("backups:configuration-detail", args=[world["config"].uuid])).content.decode()
    assert "last verified restore 3h 0m ago" in config_page
    assert "last verified restore" not in charlie.get(reverse("dashboard:overview")).content.decode()
