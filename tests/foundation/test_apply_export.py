from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from storage.models import Secret
from tenancy.models import Team
from tests import factories as f

pytestmark = pytest.mark.django_db


def one_of_each(team: Team) -> None:
    secret = f.secret(team, "repo-key", {"RESTIC_PASSWORD": "pw"})
    s3_creds = f.secret(team, "s3-creds", {"AWS_ACCESS_KEY_ID": "id", "AWS_SECRET_ACCESS_KEY": "key"})
    s3 = f.storage(team, "s3", provider="s3", bucket="stash", prefix="prod", endpoint="http://127.0.0.1:8333",
                   path_style=True, secret=s3_creds, default=True)
    local = f.storage(team, "local")
    policy = f.retention(team, "keep-daily", keep_last=3, keep_daily=7, failed_keep_last=2, max_retention_period="90d")
    cluster = f.cluster(team, "es", url="http://127.0.0.1:9200\nhttp://127.0.0.2:9200", auth="basic",
                        auth_secret=f.secret(team, "es-creds", {"username": "u", "password": "p"}))
    repo = f.repository(team, "es-s3", storage_obj=s3, secret_obj=secret, directory="es/prod")
    repo2 = f.repository(team, "es-local", storage_obj=local, secret_obj=secret)
    config = f.configuration(team, "nightly", target=cluster, repositories=[repo, repo2], retention_obj=policy,
                             schedule="30 1 * * *")
    session_cfg = config.sessions.get()
    session_cfg.task_params = {"indices": "logs-*", "batch_size": 1000}
    session_cfg.backoff_limit = 3
    session_cfg.hooks = {"preBackup": [{"name": "flush", "kind": "elasticsearch", "method": "POST", "path": "_flush"}]}
    session_cfg.save()
    t0 = datetime(2026, 11, 24, 1, 30, tzinfo=UTC)
    t1 = datetime(2026, 11, 24, 1, 31, 12, 500000, tzinfo=UTC)
    session = f.backup_session(config, trigger="schedule", phase="Succeeded", started=t0, finished=t1)
    f.snapshot(session, repo, phase="Succeeded", snapshot_id="ab12cd", snapshot_time=t1, started=t0, finished=t1,
               size_bytes=1234, total_docs=10, total_components=1, integrity=True,
               components={"dump": {"logs-1": {"docs": 10, "bytes": 1234, "duration": 0.5, "skipped_unchanged": False}}},
               verification="Verified", verified=t1, verification_details={"verifier": "weekly", "problems": []})
    f.verifier(team, "weekly", repo, cluster, schedule="0 6 * * 1", every_n_backups=7, snapshots="EachNew", random_docs=10,
               queries=[{"index": "logs-1", "query": {"match_all": {}}, "hits": 10}])
    f.restore(team, repo, cluster, "restore-logs", snapshot="latest",
              task_params={"indices": "logs-*", "rename_pattern": "^(.*)$", "rename_replacement": "restored-\\1", "conflict": "skip"})


def export_text(*args: str) -> str:
    out = io.StringIO()
    call_command("export", *args, stdout=out)
    return out.getvalue()


def test_export_then_apply_into_an_empty_database_gives_the_same_yaml(teams, tmp_path):
    one_of_each(teams["a"])
    first = export_text("--team", "team-a", "--include-secret-values")
    kinds = {d["kind"] for d in yaml.safe_load_all(first)}
    assert kinds == {"Namespace", "Secret", "BackupStorage", "RetentionPolicy", "AppBinding", "Repository",
                     "BackupConfiguration", "BackupSession", "Snapshot", "RestoreSession", "BackupVerifier"}
    Team.objects.all().delete()
    assert not Secret.objects.exists()
    path = tmp_path / "all.yaml"
    path.write_text(first)
    call_command("apply", "-f", str(path), stdout=io.StringIO())
    second = export_text("--team", "team-a", "--include-secret-values")
    assert second == first
    assert "backoffLimit: 3" in first
    assert Secret.objects.get(name="es-creds").get_data() == {"username": "u", "password": "p"}


def test_export_without_the_flag_holds_no_secret_value(teams):
    one_of_each(teams["a"])
    text = export_text()
    docs = [d for d in yaml.safe_load_all(text) if d["kind"] == "Secret"]
    assert docs and all("data" not in d and "stringData" not in d for d in docs)


def test_apply_twice_configures_instead_of_duplicating(teams, tmp_path):
    one_of_each(teams["a"])
    path = tmp_path / "a.yaml"
    path.write_text(export_text("--team", "team-a"))
    out = io.StringIO()
    call_command("apply", "-f", str(path), stdout=out)
    assert "created" not in out.getvalue()
    assert export_text("--team", "team-a") == path.read_text()


def apply_error(tmp_path, text: str) -> str:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(CommandError) as e:
        call_command("apply", "-f", str(path), stdout=io.StringIO())
    return str(e.value)


def test_an_unknown_field_is_an_error_with_its_path(teams, tmp_path):
    message = apply_error(tmp_path, """
apiVersion: storage.kubestash.com/v1alpha1
kind: BackupStorage
metadata: {name: s3, namespace: team-a}
spec:
  storage:
    provider: s3
    s3: {bucket: stash, bucketName: oops}
""")
    assert "doc 1 (BackupStorage team-a/s3): spec.storage.s3.bucketName: unknown field" in message


def test_a_bad_reference_is_an_error_with_its_path(teams, tmp_path):
    message = apply_error(tmp_path, """
apiVersion: storage.kubestash.com/v1alpha1
kind: Repository
metadata: {name: r, namespace: team-a}
spec:
  storageRef: {name: missing, namespace: team-a}
  path: r
  encryptionSecret: {name: key, namespace: team-a}
""")
    assert "spec.storageRef.name: BackupStorage 'missing' not found in namespace 'team-a'" in message


def test_a_model_validation_error_points_at_the_manifest_field(teams, tmp_path):
    message = apply_error(tmp_path, """
apiVersion: storage.kubestash.com/v1alpha1
kind: BackupStorage
metadata: {name: s3, namespace: team-a}
spec:
  storage:
    provider: s3
    s3: {bucket: Bad_Bucket}
""")
    assert "spec.storage.*.bucket" in message and "not a valid bucket name" in message


def test_a_failed_apply_changes_nothing(teams, tmp_path):
    apply_error(tmp_path, """
apiVersion: v1
kind: Secret
metadata: {name: fine, namespace: team-a}
stringData: {password: x}
---
apiVersion: storage.kubestash.com/v1alpha1
kind: RetentionPolicy
metadata: {name: nothing, namespace: team-a}
spec: {}
""")
    assert not Secret.objects.filter(name="fine").exists()


def test_an_unknown_namespace_says_to_create_it(teams, tmp_path):
    message = apply_error(tmp_path, "apiVersion: v1\nkind: Secret\nmetadata: {name: s, namespace: nope}\n")
    assert "team 'nope' does not exist" in message


def test_a_wrong_api_version_names_the_right_one(teams, tmp_path):
    message = apply_error(tmp_path, "apiVersion: stash.appscode.com/v1beta1\nkind: BackupConfiguration\nmetadata: {name: x, namespace: team-a}\n")
    assert "use core.kubestash.com/v1alpha1" in message


def test_a_schedule_that_never_fires_is_refused_by_apply(teams, tmp_path):
    one_of_each(teams["a"])
    text = export_text("--team", "team-a", "--include-secret-values").replace('30 1 * * *', '0 0 31 2 *')
    assert "0 0 31 2 *" in text
    message = apply_error(tmp_path, text)
    assert "never runs in the next 5 years" in message and "schedule" in message


def test_kubestash_directories_with_a_leading_slash_are_accepted_as_the_same_directory(teams, tmp_path):
    """KubeStash's docs write `directory: /es/demo`; it names the directory es/demo of the storage."""
    from storage.models import Repository

    one_of_each(teams["a"])
    text = export_text("--team", "team-a", "--include-secret-values")
    assert "directory: es/prod" in text and "path: es/prod" in text
    text = text.replace("directory: es/prod", "directory: /es/demo").replace("path: es/prod", "path: /es/demo")
    Team.objects.all().delete()
    path = tmp_path / "kubestash.yaml"
    path.write_text(text)
    call_command("apply", "-f", str(path), stdout=io.StringIO())
    assert Repository.objects.get(name="es-s3").directory == "es/demo"
    assert "directory: es/demo" in export_text("--team", "team-a")
    # a path that is only a slash is still refused, saying what to write
    message = apply_error(tmp_path, text.replace("directory: /es/demo", "directory: /").replace("path: /es/demo", "path: /"))
    assert "directory" in message or "spec.path" in message


def test_a_verifier_with_a_bad_query_or_no_trigger_is_refused_with_the_field(teams, tmp_path):
    one_of_each(teams["a"])
    doc = {"apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupVerifier",
           "metadata": {"name": "bad", "namespace": "team-a"},
           "spec": {"repository": {"name": "es-s3"}, "scratchTarget": {"name": "es"}, "schedule": "0 6 * * *",
                    "queries": [{"index": "logs-1", "query": {"match_all": {}}}]}}
    path = tmp_path / "v.yaml"
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CommandError, match=r"spec.queries: Query 1 needs hits"):
        call_command("apply", "-f", str(path), stdout=io.StringIO())
    doc["spec"] = {"repository": {"name": "es-s3"}, "scratchTarget": {"name": "es"}}
    path.write_text(yaml.safe_dump(doc))
    with pytest.raises(CommandError, match=r"spec.schedule: Set a schedule, or verify after every N backups"):
        call_command("apply", "-f", str(path), stdout=io.StringIO())
