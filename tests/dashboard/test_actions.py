"""Every action, tried by alice (does it), bob (403) and charlie (404)."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backups.models import BackupConfiguration, BackupSession, Cluster, Snapshot
from restores.models import RestoreSession
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret

pytestmark = pytest.mark.django_db


def test_sign_in_and_out(world: dict[str, Any], client: Client) -> None:
    r = client.post(reverse("dashboard:login"), {"username": "alice", "password": "wrong"})
    assert r.status_code == 200 and "Wrong username or password" in r.content.decode()
    r = client.post(reverse("dashboard:login"), {"username": "alice", "password": "pw-alice"})
    assert r.status_code == 302 and r["Location"] == reverse("dashboard:overview")
    assert "Team A" in client.get(reverse("dashboard:overview")).content.decode()
    client.post(reverse("dashboard:logout"))
    assert client.get(reverse("dashboard:overview")).status_code == 302


def test_the_team_switcher_changes_the_active_team(world: dict[str, Any], alice: Client) -> None:
    from tenancy.models import Membership

    Membership.objects.create(team=world["b"], user=world["alice"], role="viewer")
    storage_b = reverse("storage:storage-detail", args=[world["other_storage"].uuid])
    assert alice.get(storage_b).status_code == 404  # not the active team
    assert 'id="team-switch"' in alice.get(reverse("dashboard:overview")).content.decode()
    r = alice.post(reverse("tenancy:team-switch"), {"team": str(world["b"].uuid)})
    assert r.status_code == 302
    assert alice.get(storage_b).status_code == 200
    assert alice.get(reverse("storage:storage-new")).status_code == 403  # a viewer in team B


def test_nobody_switches_into_a_team_they_are_not_in(world: dict[str, Any], charlie: Client) -> None:
    assert charlie.post(reverse("tenancy:team-switch"), {"team": str(world["a"].uuid)}).status_code == 404


def test_team_settings_are_for_owners(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("tenancy:team-settings")
    assert alice.get(u).status_code == 200
    assert bob.get(u).status_code == 403
    r = alice.post(u, {"team-name": "Team A", "team-webhook_url": "https://hooks.example/x", "team-notify_emails": "not-an-email",
                       "team-stale_after_hours": "26"})
    assert r.status_code == 200 and "Not an e-mail address: not-an-email" in r.content.decode()
    r = alice.post(u, {"team-name": "Team A", "team-webhook_url": "https://hooks.example/x", "team-notify_emails": "ops@example.com",
                       "team-stale_after_hours": "12"})
    assert r.status_code == 302
    world["a"].refresh_from_db()
    assert world["a"].stale_after_hours == 12 and world["a"].notify_emails == "ops@example.com"
    # charlie edits his own team, never team A
    charlie.post(u, {"team-name": "B!", "team-stale_after_hours": "1"})
    world["a"].refresh_from_db()
    assert world["a"].name == "Team A"


def test_owners_manage_members_and_keep_one_owner(world: dict[str, Any], alice: Client, bob: Client) -> None:
    from tenancy.models import Membership

    r = alice.post(reverse("tenancy:member-add"), {"member-username": "nobody", "member-role": "viewer"})
    assert r.status_code == 400 and "No user &#x27;nobody&#x27;" in r.content.decode()
    assert alice.post(reverse("tenancy:member-add"), {"member-username": "charlie", "member-role": "operator"}).status_code == 302
    assert Membership.objects.get(team=world["a"], user=world["charlie"]).role == "operator"
    bob_m = Membership.objects.get(team=world["a"], user=world["bob"])
    assert bob.post(reverse("tenancy:member-role", args=[bob_m.pk]), {"role": "owner"}).status_code == 403
    alice.post(reverse("tenancy:member-role", args=[bob_m.pk]), {"role": "operator"})
    bob_m.refresh_from_db()
    assert bob_m.role == "operator"
    alice_m = Membership.objects.get(team=world["a"], user=world["alice"])
    alice.post(reverse("tenancy:member-remove", args=[alice_m.pk]))
    assert Membership.objects.filter(pk=alice_m.pk).exists()  # the last owner stays


def test_another_teams_owner_gets_404_on_the_member_views_and_changes_nothing(
    world: dict[str, Any], alice: Client, charlie: Client
) -> None:
    from tenancy.models import Membership

    bob_m = Membership.objects.get(team=world["a"], user=world["bob"])
    alice_m = Membership.objects.get(team=world["a"], user=world["alice"])
    charlie_m = Membership.objects.get(team=world["b"], user=world["charlie"])
    for m in (bob_m, alice_m):
        assert charlie.post(reverse("tenancy:member-role", args=[m.pk]), {"role": "owner"}).status_code == 404
        assert charlie.post(reverse("tenancy:member-remove", args=[m.pk])).status_code == 404
    # and the other way round: alice, owner of team A, on team B's membership
    assert alice.post(reverse("tenancy:member-role", args=[charlie_m.pk]), {"role": "viewer"}).status_code == 404
    assert alice.post(reverse("tenancy:member-remove", args=[charlie_m.pk])).status_code == 404
    roles = dict(Membership.objects.values_list("pk", "role"))
    assert roles == {bob_m.pk: "viewer", alice_m.pk: "owner", charlie_m.pk: "owner"}


def test_secrets_are_write_only(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    r = alice.post(reverse("storage:secret-new"), {"name": "s3-creds", "values": "AWS_ACCESS_KEY_ID=AKIAXYZ\nAWS_SECRET_ACCESS_KEY=hunter2"})
    assert r.status_code == 302
    s = Secret.objects.get(team=world["a"], name="s3-creds")
    assert s.get_data() == {"AWS_ACCESS_KEY_ID": "AKIAXYZ", "AWS_SECRET_ACCESS_KEY": "hunter2"}
    for page in (reverse("storage:secret-list"), reverse("storage:secret-edit", args=[s.uuid])):
        html = alice.get(page).content.decode()
        assert "AWS_SECRET_ACCESS_KEY" in html and "hunter2" not in html and "AKIAXYZ" not in html
    # replace one value, keep the other, remove none
    alice.post(reverse("storage:secret-edit", args=[s.uuid]), {"name": "s3-creds", "values": "AWS_SECRET_ACCESS_KEY=new"})
    s.refresh_from_db()
    assert s.get_data() == {"AWS_ACCESS_KEY_ID": "AKIAXYZ", "AWS_SECRET_ACCESS_KEY": "new"}
    alice.post(reverse("storage:secret-edit", args=[s.uuid]), {"name": "s3-creds", "values": "", "remove": ["AWS_ACCESS_KEY_ID"]})
    s.refresh_from_db()
    assert s.key_names == ["AWS_SECRET_ACCESS_KEY"]
    assert bob.post(reverse("storage:secret-edit", args=[s.uuid]), {"name": "x", "values": "A=b"}).status_code == 403
    assert charlie.post(reverse("storage:secret-edit", args=[s.uuid]), {"name": "x", "values": "A=b"}).status_code == 404
    assert bob.post(reverse("storage:secret-new"), {"name": "x", "values": "A=b"}).status_code == 403


def test_secret_form_errors_say_what_to_fix(world: dict[str, Any], alice: Client) -> None:
    html = alice.post(reverse("storage:secret-new"), {"name": "x", "values": "novalue"}).content.decode()
    assert "Line 1 has no &#x27;=&#x27;: write one KEY=value per line." in html
    html = alice.post(reverse("storage:secret-new"), {"name": "Bad Name", "values": "a=b"}).content.decode()
    assert "lowercase letters" in html
    html = alice.post(reverse("storage:secret-new"), {"name": "repo-key", "values": "a=b"}).content.decode()
    assert "already" in html


def test_a_storage_over_another_teams_directory_is_refused_without_naming_it(world: dict[str, Any], charlie: Client,
                                                                             settings: Any) -> None:
    theirs = world["storage"].mount_path  # team A's directory
    parent = str(settings.LOCAL_STORAGE_ROOT / "team-a")
    for mount_path in (theirs, parent, f"{theirs}/inside"):
        r = charlie.post(reverse("storage:storage-new"), {"name": "grab", "provider": "local", "mount_path": mount_path,
                                                            "deletion_policy": "WipeOut"})
        html = r.content.decode()
        assert r.status_code == 400 and "overlaps a storage that already exists: choose another directory" in html
        assert "Team A" not in html and ">local<" not in html
    assert not BackupStorage.objects.filter(name="grab").exists()


def test_a_used_secret_cannot_be_deleted(world: dict[str, Any], alice: Client) -> None:
    r = alice.post(reverse("storage:secret-delete", args=[world["secret"].uuid]))
    assert r.status_code == 409 and "repository repo" in r.content.decode()
    assert Secret.objects.filter(pk=world["secret"].pk).exists()


def test_storage_create_initializes_and_errors_say_what_to_fix(world: dict[str, Any], alice: Client, bob: Client,
                                                               django_capture_on_commit_callbacks: Any, tmp_path: Any) -> None:
    data = {"name": "backup-disk", "provider": "local", "mount_path": "/etc", "deletion_policy": "Delete"}
    html = alice.post(reverse("storage:storage-new"), data).content.decode()
    assert "outside the allowed local storage roots" in html
    html = alice.post(reverse("storage:storage-new"), {**data, "provider": "s3", "mount_path": ""}).content.decode()
    assert "Set the bucket to write to." in html
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = alice.post(reverse("storage:storage-new"), {**data, "mount_path": str(tmp_path / "disk")})
    assert r.status_code == 302
    assert len(callbacks) == 1  # storage.jobs.init_storage is enqueued on commit
    assert BackupStorage.objects.filter(team=world["a"], name="backup-disk").exists()
    assert bob.post(reverse("storage:storage-new"), data).status_code == 403


def test_deleting_a_storage_says_what_is_lost(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("storage:storage-delete", args=[world["storage"].uuid])
    html = alice.get(u).content.decode()
    assert "Repository repo: 2 snapshot records" in html and "used by configuration nightly" in html
    assert "Repository repo is verified by verifier weekly-check: delete it first." in html
    assert alice.post(u).status_code == 409
    assert bob.post(u).status_code == 403
    assert charlie.post(u).status_code == 404
    # a storage whose repository is not used any more goes, with its snapshot records
    world["config"].delete()
    RestoreSession.objects.all().delete()
    world["verifier"].delete()
    assert alice.post(u).status_code == 302
    assert not BackupStorage.objects.filter(pk=world["storage"].pk).exists()
    assert not Snapshot.objects.filter(repository=world["repo"]).exists()


@pytest.mark.parametrize(("name", "key"), [("storage:storage-initialize", "storage"), ("storage:repository-check", "repo")])
def test_initialize_again_and_check_now_enqueue_one_job_for_an_owner_only(
        world: dict[str, Any], alice: Client, bob: Client, charlie: Client, django_capture_on_commit_callbacks: Any,
        name: str, key: str) -> None:
    u = reverse(name, args=[world[key].uuid])
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        assert alice.post(u).status_code == 302
    assert len(callbacks) == 1
    assert bob.post(u).status_code == 403
    assert charlie.post(u).status_code == 404


def test_retention_policy_crud(world: dict[str, Any], alice: Client, bob: Client) -> None:
    html = alice.post(reverse("storage:retention-new"), {"name": "nothing"}).content.decode()
    assert "keeps no successful snapshot" in html
    assert alice.post(reverse("storage:retention-new"), {"name": "daily", "keep_daily": "7"}).status_code == 302
    p = RetentionPolicy.objects.get(team=world["a"], name="daily")
    assert alice.post(reverse("storage:retention-delete", args=[p.uuid])).status_code == 302
    assert alice.post(reverse("storage:retention-delete", args=[world["retention"].uuid])).status_code == 409  # in use
    assert bob.post(reverse("storage:retention-new"), {"name": "x", "keep_last": "1"}).status_code == 403


def test_cluster_crud_and_test_connection_shows_the_exact_error(world: dict[str, Any], alice: Client, bob: Client,
                                                                charlie: Client) -> None:
    html = alice.post(reverse("backups:cluster-new"), {"name": "c2", "urls": "es.example:9200", "auth": "none", "timeout": "5"}).content.decode()
    assert "has no http:// or https:// scheme" in html
    html = alice.post(reverse("backups:cluster-new"), {"name": "c2", "urls": "http://127.0.0.1:1", "auth": "basic", "timeout": "5"}).content.decode()
    assert "Choose the secret that holds the credentials" in html
    assert alice.post(reverse("backups:cluster-new"), {"name": "c2", "urls": "http://127.0.0.1:1", "auth": "none",
                                                         "verify_tls": "on", "timeout": "5"}).status_code == 302
    c = Cluster.objects.get(team=world["a"], name="c2")
    u = reverse("backups:cluster-test", args=[c.uuid])
    r = alice.post(u, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "Connection failed." in html and "cannot reach http://127.0.0.1:1" in html
    assert 'id="test-result"' in html and "<html" not in html  # the partial only
    assert 'id="connection" hx-swap-oob="true"' in html and "Last error" in html
    c.refresh_from_db()
    assert "cannot reach" in c.status_message
    assert bob.post(u).status_code == 403
    assert charlie.post(u).status_code == 404


def _config_data(world: dict[str, Any], **kw: Any) -> dict[str, Any]:
    data = {"config-name": "hourly", "config-target": world["cluster"].pk, "config-timezone": "UTC",
            "session-name": "full", "session-schedule": "0 * * * *", "session-repositories": [world["repo"].pk],
            "session-retention_policy": world["retention"].pk, "session-session_history_limit": "30",
            "session-indices": "logs-*", "session-exclude": "", "session-metadata": ["settings", "mappings", "aliases"],
            "session-slices": "2", "session-batch_size": "1000", "session-max_docs_per_second": "0", "session-skip_unchanged": "on",
            "session-hooks_json": ""}
    data.update(kw)
    return data


def test_create_a_configuration_with_a_new_repository(world: dict[str, Any], alice: Client, bob: Client,
                                                      django_capture_on_commit_callbacks: Any) -> None:
    data = _config_data(world, **{"session-repositories": [], "session-new_repo_name": "hourly-repo",
                                  "session-new_repo_storage": world["storage"].pk, "session-new_repo_directory": "es/hourly",
                                  "session-new_repo_secret": world["secret"].pk})
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = alice.post(reverse("backups:configuration-new"), data)
    assert r.status_code == 302, r.content.decode()[:3000]
    config = BackupConfiguration.objects.get(team=world["a"], name="hourly")
    session = config.sessions.get()
    assert session.task_params == {"indices": "logs-*", "metadata": "settings,mappings,aliases", "slices": 2, "batch_size": 1000}
    repo = Repository.objects.get(team=world["a"], name="hourly-repo")
    assert list(session.repositories.all()) == [repo] and repo.directory == "es/hourly"
    assert len(callbacks) >= 1  # the repository's initialization (then the phase update)
    assert bob.post(reverse("backups:configuration-new"), data).status_code == 403


def test_configuration_form_errors_say_what_to_fix(world: dict[str, Any], alice: Client) -> None:
    html = alice.post(reverse("backups:configuration-new"), _config_data(world, **{
        "session-schedule": "every hour", "session-repositories": [], "session-hooks_json": "{bad",
        "session-indices": "logs-*,"})).content.decode()
    assert "a cron schedule has 5" in html
    assert "Choose at least one repository, or make a new one below." in html
    assert "Not valid JSON at line 1" in html
    html = alice.post(reverse("backups:configuration-new"), _config_data(world, **{
        "session-hooks_json": '{"preBackup": [{"kind": "http", "url": "ftp://x"}]}'})).content.decode()
    assert "must be a full http:// or https:// URL" in html
    html = alice.post(reverse("backups:configuration-new"), _config_data(world, **{"config-name": "nightly"})).content.decode()
    assert "already has a configuration named" in html


def test_another_teams_objects_are_not_offered_in_forms(world: dict[str, Any], charlie: Client) -> None:
    html = charlie.get(reverse("backups:configuration-new")).content.decode()
    assert "repo-key" not in html and ">es<" not in html
    r = charlie.post(reverse("backups:configuration-new"), _config_data(world))
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()


def test_schedule_preview_shows_the_next_five_runs_or_the_error(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(reverse("backups:schedule-preview"), {"session-schedule": "30 2 * * 1", "config-timezone": "Europe/Berlin"},
                     HTTP_HX_REQUEST="true").content.decode()
    assert html.count("<li>") == 5 and "02:30" in html and "Mon" in html and "Europe/Berlin" in html
    html = alice.get(reverse("backups:schedule-preview"), {"session-schedule": "61 * * * *"}).content.decode()
    assert "is not a valid cron schedule" in html


def test_schedule_preview_of_a_schedule_that_never_fires_answers_a_message(world: dict[str, Any], alice: Client) -> None:
    r = alice.get(reverse("backups:schedule-preview"), {"session-schedule": "0 0 31 2 *"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and "never runs in the next 5 years" in r.content.decode()


def test_the_configuration_form_refuses_a_schedule_that_never_fires(world: dict[str, Any], alice: Client) -> None:
    r = alice.post(reverse("backups:configuration-new"), _config_data(world, **{"session-schedule": "0 0 31 2 *"}))
    assert r.status_code == 400 and "never runs in the next 5 years" in r.content.decode()
    assert not BackupConfiguration.objects.filter(name="hourly").exists()


def test_edit_a_session_and_add_another(world: dict[str, Any], alice: Client, django_capture_on_commit_callbacks: Any) -> None:
    config = world["config"]
    data = _config_data(world, **{"session-schedule": "15 3 * * *"})
    with django_capture_on_commit_callbacks(execute=False):
        assert alice.post(reverse("backups:session-config-edit", args=[config.uuid, "full"]), data).status_code == 302
        assert config.sessions.get(name="full").schedule == "15 3 * * *"
        r = alice.post(reverse("backups:session-config-new", args=[config.uuid]), {**data, "session-name": "logs"})
    assert r.status_code == 302
    assert sorted(config.sessions.values_list("name", flat=True)) == ["full", "logs"]


def test_pause_resume(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("backups:configuration-pause", args=[world["config"].uuid])
    alice.post(u, {"paused": "1"})
    world["config"].refresh_from_db()
    assert world["config"].paused
    html = alice.get(reverse("backups:configuration-detail", args=[world["config"].uuid])).content.decode()
    assert ">Resume<" in html and "Paused: nothing runs until resumed." in html
    alice.post(u, {"paused": "0"})
    world["config"].refresh_from_db()
    assert not world["config"].paused
    assert bob.post(u).status_code == 403
    assert charlie.post(u).status_code == 404


def test_backup_now_triggers_a_session(world: dict[str, Any], alice: Client, bob: Client, charlie: Client,
                                       django_capture_on_commit_callbacks: Any) -> None:
    u = reverse("backups:configuration-backup-now", args=[world["config"].uuid])
    world["running"].phase = "Succeeded"
    world["running"].save()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = alice.post(u)
    session = BackupSession.objects.filter(configuration=world["config"]).order_by("-created").first()
    assert session is not None
    assert r.status_code == 302 and r["Location"] == reverse("backups:session-detail", args=[session.uuid])
    assert session.trigger == "manual" and session.phase == "Pending" and len(callbacks) == 1
    assert bob.post(u).status_code == 403
    assert charlie.post(u).status_code == 404


def test_deleting_a_configuration_says_what_is_lost(world: dict[str, Any], alice: Client) -> None:
    u = reverse("backups:configuration-delete", args=[world["config"].uuid])
    html = alice.get(u).content.decode()
    assert "The history of 2 backup sessions. Their 2 snapshots stay" in html
    r = alice.post(u)
    assert r.status_code == 409 and "pending or running: wait for them or cancel them first" in r.content.decode()
    BackupSession.objects.filter(pk=world["running"].pk).update(phase="Cancelled")
    assert alice.post(u).status_code == 302
    assert not BackupConfiguration.objects.filter(pk=world["config"].pk).exists()


def test_a_deleted_configurations_snapshots_stay_browsable_and_restorable(world: dict[str, Any], alice: Client) -> None:
    BackupSession.objects.filter(pk=world["running"].pk).update(phase="Cancelled")
    assert alice.post(reverse("backups:configuration-delete", args=[world["config"].uuid])).status_code == 302
    snap = Snapshot.objects.get(pk=world["snapshot"].pk)
    assert snap.backup_session is None and snap.repository == world["repo"] and snap.snapshot_id == "ab" * 32
    assert Snapshot.objects.filter(repository=world["repo"]).count() == 2
    page = alice.get(reverse("storage:repository-detail", args=[world["repo"].uuid])).content.decode()
    assert reverse("backups:snapshot-detail", args=[snap.uuid]) in page
    assert alice.get(reverse("backups:snapshot-detail", args=[snap.uuid])).status_code == 200
    html = alice.get(reverse("restores:restore-new"), {"repository": world["repo"].uuid}).content.decode()
    assert snap.snapshot_id[:8] in html


def test_repository_new_and_delete(world: dict[str, Any], alice: Client, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = alice.post(reverse("storage:repository-new"), {"name": "extra", "storage": world["storage"].pk, "directory": "x",
                                                             "encryption_secret": world["secret"].pk, "deletion_policy": "Delete"})
    assert r.status_code == 302 and len(callbacks) == 1
    extra = Repository.objects.get(team=world["a"], name="extra")
    assert alice.post(reverse("storage:repository-delete", args=[extra.uuid])).status_code == 302
    assert alice.post(reverse("storage:repository-delete", args=[world["repo"].uuid])).status_code == 409


def test_session_list_filters(world: dict[str, Any], alice: Client) -> None:
    u = reverse("backups:session-list")
    html = alice.get(u, {"phase": "Running"}).content.decode()
    assert world["running"].name in html and world["session"].name not in html
    html = alice.get(u, {"configuration": str(world["config"].uuid), "date": world["session"].created.strftime("%Y-%m-%d")},
                     HTTP_HX_REQUEST="true").content.decode()
    assert world["session"].name in html and "<html" not in html
    assert "No sessions." in alice.get(u, {"configuration": "not-a-uuid"}).content.decode()
    assert "is not a date" in alice.get(u, {"date": "yesterday"}).content.decode()


def test_live_progress_polls_until_done(world: dict[str, Any], alice: Client) -> None:
    running = reverse("backups:session-detail", args=[world["running"].uuid])
    r = alice.get(running, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and 'hx-trigger="every 2s"' in html and "logs-1" in html and 'aria-valuenow="50"' in html
    done = reverse("backups:session-detail", args=[world["session"].uuid])
    r = alice.get(done, HTTP_HX_REQUEST="true")
    assert r.status_code == 286 and 'hx-trigger="every 2s"' not in r.content.decode()
    assert "reused" in r.content.decode()  # skipped-unchanged index


def test_cancel_a_session(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("backups:session-cancel", args=[world["running"].uuid])
    assert bob.post(u).status_code == 403
    assert charlie.post(u).status_code == 404
    assert alice.post(u).status_code == 302
    snap = Snapshot.objects.get(backup_session=world["running"])
    assert snap.cancel_requested_by == "alice"
    r = alice.post(reverse("backups:session-cancel", args=[world["session"].uuid]), HTTP_HX_REQUEST="true", follow=True)
    assert "nothing to cancel" in r.content.decode()


def test_messages_ride_out_of_band_on_htmx_responses(world: dict[str, Any], alice: Client) -> None:
    from django.contrib.messages import get_messages  # noqa: F401

    alice.post(reverse("backups:configuration-pause", args=[world["config"].uuid]), {"paused": "1"})
    r = alice.get(reverse("backups:session-detail", args=[world["running"].uuid]), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert 'id="messages"' in html and 'hx-swap-oob="true"' in html and "paused" in html


def test_snapshot_browser_shows_indices_and_the_manifest_error(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(reverse("backups:snapshot-detail", args=[world["snapshot"].uuid])).content.decode()
    assert "logs-1" in html and "users" in html and "unchanged, reused" in html
    assert "Could not read the manifest" in html  # the repository was never initialized here


def test_restore_wizard_preview_renames(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(reverse("restores:restore-preview"), {"repository": world["repo"].pk, "snapshot": "latest", "indices": "*",
                                                            "exclude": "users", "rename_pattern": "^(.*)$",
                                                            "rename_replacement": r"restored-\1"}).content.decode()
    assert "restored-logs-1" in html and "users" not in html
    html = alice.get(reverse("restores:restore-preview"), {"repository": world["repo"].pk, "indices": "*",
                                                            "rename_pattern": ".*", "rename_replacement": "same"}).content.decode()
    assert "maps both" in html
    html = alice.get(reverse("restores:restore-new"), {"repository": str(world["repo"].uuid)}).content.decode()
    assert world["snapshot"].snapshot_id[:8] in html and "logs-1" in html


def test_restore_wizard_review_confirm_and_start(world: dict[str, Any], alice: Client, bob: Client, charlie: Client,
                                                 django_capture_on_commit_callbacks: Any) -> None:
    u = reverse("restores:restore-new")
    data = {"repository": world["repo"].pk, "snapshot": "latest", "indices": "logs-*", "exclude": "", "rename_pattern": "^(.*)$",
            "rename_replacement": r"restored-\1", "target": world["cluster"].pk, "conflict": "overwrite", "name": ""}
    html = alice.post(u, {**data, "action": "review"}).content.decode()
    assert "Overwrite deletes data." in html and "restored-logs-1" in html and "Start restore" in html
    r = alice.post(u, {**data, "action": "start"})
    assert r.status_code == 400 and "Tick this to confirm" in r.content.decode()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        r = alice.post(u, {**data, "action": "start", "confirm_overwrite": "on"})
    assert r.status_code == 302 and len(callbacks) == 1
    restore = RestoreSession.objects.exclude(pk=world["restore"].pk).get(team=world["a"])
    assert restore.task_params == {"indices": "logs-*", "rename_pattern": "^(.*)$", "rename_replacement": r"restored-\1",
                                   "conflict": "overwrite"}
    assert restore.created_by == "alice"
    assert bob.post(u, {**data, "action": "start", "confirm_overwrite": "on"}).status_code == 403
    r = charlie.post(u, {**data, "action": "start", "confirm_overwrite": "on"})
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()


def test_restore_wizard_errors(world: dict[str, Any], alice: Client) -> None:
    data = {"repository": world["repo"].pk, "snapshot": "latest", "indices": "nomatch-*", "target": world["cluster"].pk,
            "conflict": "fail", "rename_pattern": "(", "action": "review"}
    html = alice.post(reverse("restores:restore-new"), data).content.decode()
    assert "Not a regular expression" in html
    html = alice.post(reverse("restores:restore-new"), {**data, "rename_pattern": ""}).content.decode()
    assert "No index of this snapshot matches these patterns." in html


def test_restore_detail_shows_results_and_failed_items(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("restores:restore-detail", args=[world["restore"].uuid])
    html = alice.get(u).content.decode()
    assert "restored-logs-1" in html and "doc-3" in html and "mapper_parsing_exception" in html
    assert alice.get(u, HTTP_HX_REQUEST="true").status_code == 286
    cancel = reverse("restores:restore-cancel", args=[world["restore"].uuid])
    assert bob.post(cancel).status_code == 403
    assert charlie.post(cancel).status_code == 404
    pending = RestoreSession.objects.create(team=world["a"], name="pending-1", target=world["cluster"], repository=world["repo"])
    alice.post(reverse("restores:restore-cancel", args=[pending.uuid]))
    pending.refresh_from_db()
    assert pending.phase == "Cancelled" and pending.cancelled_by == "alice"


def test_overview_puts_failing_first_and_shows_running(world: dict[str, Any], alice: Client) -> None:
    from tests import factories as f

    bad = f.configuration(world["a"], "aaa-failing", target=world["cluster"], repositories=[world["repo"]])
    f.backup_session(bad, phase="Failed")
    html = alice.get(reverse("dashboard:overview")).content.decode()
    assert html.index("aaa-failing") < html.index(">nightly<")
    assert html.index(">nightly<") > html.index('class="failing"')
    assert world["running"].name in html  # the running session with its progress
    assert 'id="last-30-days"' in html and "local" in html  # every configuration's 30 days (dashboard.charts.days_grid)
    r = alice.get(reverse("dashboard:overview-running"), HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and world["running"].name in r.content.decode()


def test_previews_never_show_another_teams_snapshot(world: dict[str, Any], charlie: Client) -> None:
    html = charlie.get(reverse("restores:restore-preview"), {"repository": world["repo"].pk, "indices": "*"}).content.decode()
    assert "logs-1" not in html
    html = charlie.get(reverse("restores:restore-new"), {"repository": str(world["repo"].uuid)}).content.decode()
    assert "logs-1" not in html and world["snapshot"].snapshot_id[:8] not in html
    r = charlie.get(reverse("dashboard:overview-running"), HTTP_HX_REQUEST="true")
    assert world["running"].name not in r.content.decode()
