"""Where changes happen, the audit log records them: dashboard views, the admin,
`manage.py apply`, `backup_now` and `restore`. No secret value reaches the table."""
from __future__ import annotations

import io
import json
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.forms.models import model_to_dict
from django.test import Client
from django.urls import reverse

from audit.models import Entry
from backups.models import BackupSession
from dashboard.forms.resources import RetentionForm
from restores.models import RestoreSession
from storage.models import Secret
from tenancy.models import Membership
from tests import factories as f
from tests.dashboard.conftest import client_for

pytestmark = pytest.mark.django_db

SECRET_VALUE = "hunter2-the-value-nobody-may-read"


def the_table_as_text() -> str:
    return json.dumps([e.as_json() for e in Entry.objects.all()]) + str(list(Entry.objects.values()))


def only(**kw: Any) -> Entry:
    entries = list(Entry.objects.filter(**kw))
    assert len(entries) == 1, f"{kw}: {[str(e) for e in Entry.objects.all()]}"
    return entries[0]


def test_secret_create_change_delete_record_key_names_not_values(world: dict[str, Any], alice: Client) -> None:
    r = alice.post(reverse("storage:secret-new"), {"name": "s3-creds", "description": "", "values": f"SECRET_KEY={SECRET_VALUE}"},
                   REMOTE_ADDR="198.51.100.4", HTTP_USER_AGENT="Browser/1")
    assert r.status_code == 302
    secret = Secret.objects.get(name="s3-creds")
    created = only(action="created", target_kind="Secret")
    assert (created.actor, created.team, created.target_name, created.ip, created.user_agent) == (
        "alice", world["a"], "s3-creds", "198.51.100.4", "Browser/1")
    assert created.fields == ["data.SECRET_KEY", "name"]
    alice.post(reverse("storage:secret-edit", args=[secret.uuid]),
               {"name": "s3-creds", "description": "for S3", "values": f"ACCESS_KEY={SECRET_VALUE}x", "remove": ["SECRET_KEY"]})
    assert only(action="changed", target_kind="Secret").fields == ["data.ACCESS_KEY", "data.SECRET_KEY", "description"]
    alice.post(reverse("storage:secret-delete", args=[secret.uuid]))
    assert only(action="deleted", target_kind="Secret").target_uuid == secret.uuid
    assert SECRET_VALUE not in the_table_as_text()


def test_a_refused_change_records_nothing(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    assert bob.post(reverse("storage:secret-new"), {"name": "x", "values": "A=b"}).status_code == 403
    assert charlie.post(reverse("storage:storage-delete", args=[world["storage"].uuid])).status_code == 404
    assert alice.post(reverse("storage:secret-new"), {"name": "Bad Name", "values": "A=b"}).status_code == 400
    assert alice.post(reverse("storage:secret-delete", args=[world["secret"].uuid])).status_code == 409  # still used
    assert not Entry.objects.exclude(action="login").exists()  # the clients' sign-ins


def test_resource_changes_record_the_changed_fields(world: dict[str, Any], alice: Client, django_capture_on_commit_callbacks: Any) -> None:
    policy = world["retention"]
    with django_capture_on_commit_callbacks(execute=False):
        fields = {k: "" if v is None else v for k, v in model_to_dict(policy, fields=RetentionForm.Meta.fields).items()}
        alice.post(reverse("storage:retention-edit", args=[policy.uuid]), {**fields, "keep_last": 9})
        alice.post(reverse("backups:configuration-pause", args=[world["config"].uuid]), {"paused": "1"})
        alice.post(reverse("storage:storage-initialize", args=[world["storage"].uuid]))
    assert only(target_kind="RetentionPolicy").fields == ["keep_last"]
    paused = only(target_kind="BackupConfiguration")
    assert (paused.action, paused.fields, paused.details) == ("changed", ["paused"], {"paused": True})
    assert only(action="storage-initialize").target_name == "local"


def test_backup_now_and_cancel_are_recorded(world: dict[str, Any], alice: Client, django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        r = alice.post(reverse("backups:configuration-backup-now", args=[world["config"].uuid]))
    session = BackupSession.objects.latest("created")
    assert r.status_code == 302
    now = only(action="backup-now")
    assert (now.target_kind, now.target_name) == ("BackupConfiguration", "nightly")
    # the session of the fixture still runs: the new one is Skipped, and the entry says so
    assert now.details == {"session": "full", "backup_session": session.name, "phase": session.phase, "repositories": ["repo"]}
    alice.post(reverse("backups:session-cancel", args=[world["running"].uuid]))
    cancelled = only(action="backup-cancelled")
    assert (cancelled.target_name, cancelled.actor) == (world["running"].name, "alice")


def test_a_restore_records_its_target_and_indices(world: dict[str, Any], alice: Client, django_capture_on_commit_callbacks: Any) -> None:
    data = {"repository": world["repo"].pk, "snapshot": "latest", "indices": "logs-*,users", "exclude": "", "rename_pattern": "^(.*)$",
            "rename_replacement": r"restored-\1", "target": world["cluster"].pk, "conflict": "fail", "name": "", "action": "start"}
    with django_capture_on_commit_callbacks(execute=False):
        assert alice.post(reverse("restores:restore-new"), data).status_code == 302
    restore = RestoreSession.objects.exclude(pk=world["restore"].pk).get()
    started = only(action="restore-started")
    assert (started.target_kind, started.target_name) == ("RestoreSession", restore.name)
    assert started.details == {
        "repository": "repo", "snapshot": "latest", "target_cluster": "es", "indices": "logs-*,users", "exclude": "",
        "rename": ["^(.*)$", r"restored-\1"], "conflict": "fail", "restored_index_count": 2,
        "restored_indices": [{"source": "logs-1", "target": "restored-logs-1"}, {"source": "users", "target": "restored-users"}]}
    alice.post(reverse("restores:restore-cancel", args=[restore.uuid]))
    cancelled = only(action="restore-cancelled")
    assert cancelled.details["target_cluster"] == "es" and cancelled.details["phase"] == "Pending"


def test_repository_check_and_cluster_test_are_recorded(world: dict[str, Any], alice: Client,
                                                        django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        alice.post(reverse("storage:repository-check", args=[world["repo"].uuid]), {"read_data": "1"})
    assert only(action="repository-check").details == {"read_data": True}
    world["cluster"].urls = "http://127.0.0.1:9"  # nothing listens there
    world["cluster"].save()
    alice.post(reverse("backups:cluster-test", args=[world["cluster"].uuid]))
    tested = only(action="cluster-test")
    assert tested.details["ok"] is False and tested.details["error"]


def test_member_and_role_changes_and_team_settings_are_recorded(world: dict[str, Any], alice: Client) -> None:
    dave = f.user("dave")
    alice.post(reverse("tenancy:member-add"), {"member-username": "dave", "member-role": "operator"})
    m = Membership.objects.get(user=dave)
    alice.post(reverse("tenancy:member-role", args=[m.pk]), {"role": "viewer"})
    alice.post(reverse("tenancy:member-remove", args=[m.pk]))
    alice.post(reverse("tenancy:team-settings"), {"team-name": "Team A", "team-webhook_url": "https://hooks.example/T0/B0/xyz",
                                                    "team-notify_emails": "", "team-stale_after_hours": 26})
    entries = [(e.action, e.target_name, e.details) for e in Entry.objects.exclude(action="login").order_by("pk")]
    assert entries[:3] == [("member-added", "dave", {"role": "operator"}),
                           ("member-role-changed", "dave", {"role": "viewer", "previous_role": "operator"}),
                           ("member-removed", "dave", {"role": "viewer"})]
    team_entry = only(target_kind="Team")
    assert team_entry.fields == ["webhook_url"] and "hooks.example" not in the_table_as_text()


def test_the_admin_records_saves_deletes_and_inline_members(world: dict[str, Any]) -> None:
    alice = world["alice"]
    alice.is_staff = True
    alice.save()
    c = client_for(alice)
    secret = world["secret"]
    url = reverse("admin:storage_secret_change", args=[secret.pk])
    r = c.post(url, {"team": world["a"].pk, "name": secret.name, "description": "changed", "values": f"RESTIC_PASSWORD={SECRET_VALUE}",
                     "remove_keys": ""})
    assert r.status_code == 302, r.content.decode()[:2000]
    e = only(action="changed", target_kind="Secret")
    assert (e.via, e.fields) == ("admin", ["data.RESTIC_PASSWORD", "description"])
    policy = f.retention(world["a"], "unused")
    assert c.post(reverse("admin:storage_retentionpolicy_delete", args=[policy.pk]), {"post": "yes"}).status_code == 302
    assert only(action="deleted", target_kind="RetentionPolicy").target_name == policy.name
    # the team's members inline
    team = world["a"]
    members = list(Membership.objects.filter(team=team).order_by("pk"))
    dave = f.user("dave")
    data = {"name": team.name, "slug": team.slug, "webhook_url": "", "notify_emails": "", "stale_after_hours": 26,
            "memberships-TOTAL_FORMS": len(members) + 1, "memberships-INITIAL_FORMS": len(members),
            "memberships-MIN_NUM_FORMS": 0, "memberships-MAX_NUM_FORMS": 1000}
    for i, m in enumerate(members):
        data.update({f"memberships-{i}-id": m.pk, f"memberships-{i}-team": team.pk, f"memberships-{i}-user": m.user_id,
                     f"memberships-{i}-role": "operator" if m.user.username == "bob" else m.role})
    n = len(members)
    data.update({f"memberships-{n}-team": team.pk, f"memberships-{n}-user": dave.pk, f"memberships-{n}-role": "viewer"})
    r = c.post(reverse("admin:tenancy_team_change", args=[team.pk]), data)
    assert r.status_code == 302, r.content.decode()[:3000]
    assert only(action="member-added").details == {"role": "viewer"}
    assert only(action="member-role-changed").details == {"role": "operator", "previous_role": "viewer"}
    assert SECRET_VALUE not in the_table_as_text()


def test_apply_records_the_changed_manifest_paths_and_the_command(teams: dict[str, Any], tmp_path: Any) -> None:
    a = teams["a"]
    docs: list[dict[str, Any]] = [{"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": a.slug},
             "data": {"PASSWORD": "aHVudGVyMi10aGUtdmFsdWUtbm9ib2R5LW1heS1yZWFk"}},  # SECRET_VALUE in base64
            {"apiVersion": "storage.kubestash.com/v1alpha1", "kind": "RetentionPolicy", "metadata": {"name": "keep", "namespace": a.slug},
             "spec": {"successfulSnapshots": {"last": 3}}}]
    path = tmp_path / "a.yaml"
    path.write_text(yaml.safe_dump_all(docs))
    call_command("apply", "-f", str(path), stdout=io.StringIO())
    created = list(Entry.objects.order_by("pk"))
    assert [(e.action, e.target_kind, e.target_name) for e in created] == [("created", "Secret", "creds"),
                                                                          ("created", "RetentionPolicy", "keep")]
    assert created[0].via == "command" and created[0].actor.startswith("manage.py apply (")
    assert "data.PASSWORD" in created[0].fields
    docs[1]["spec"]["successfulSnapshots"]["last"] = 4
    path.write_text(yaml.safe_dump_all(docs))
    call_command("apply", "-f", str(path), stdout=io.StringIO())  # the secret is unchanged: no entry
    assert [(e.action, e.target_kind, e.fields) for e in Entry.objects.order_by("pk")[2:]] == [
        ("changed", "RetentionPolicy", ["spec.successfulSnapshots.last"])]
    call_command("apply", "-f", str(path), "--dry-run", stdout=io.StringIO())
    assert Entry.objects.count() == 3
    assert SECRET_VALUE not in the_table_as_text() and "aHVudGVy" not in the_table_as_text()


def test_backup_now_and_restore_commands_record_the_command(world: dict[str, Any], django_capture_on_commit_callbacks: Any) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        call_command("backup_now", "team-a/nightly", stdout=io.StringIO())
        call_command("restore", "--repository", "team-a/repo", "--target", "team-a/es", "--indices", "logs-*", stdout=io.StringIO())
    now = only(action="backup-now")
    assert now.actor.startswith("manage.py backup_now (") and now.team == world["a"]
    started = only(action="restore-started")
    assert started.actor.startswith("manage.py restore (") and started.details["indices"] == "logs-*"
