from __future__ import annotations

import pytest

from tenancy.manifests import MANAGED_BY
from tests.foundation.test_apply_export import one_of_each
from tests.k8s.conftest import run_sync
from tests.k8s.helpers import objects, writes

pytestmark = pytest.mark.django_db


def test_once_mirrors_a_team_with_one_of_everything(teams, k8s_api):
    one_of_each(teams["a"])
    out = run_sync("--once")
    assert "0 errors" in out
    mirrored = objects(k8s_api, "team-a")
    assert sorted((kind, name) for kind, _, name in mirrored) == sorted([
        ("AppBinding", "es"), ("BackupConfiguration", "nightly"), ("BackupSession", _session_name(mirrored)),
        ("BackupStorage", "local"), ("BackupStorage", "s3"), ("Repository", "es-local"), ("Repository", "es-s3"),
        ("RestoreSession", "restore-logs"), ("RetentionPolicy", "keep-daily"), ("Snapshot", _snapshot_name(mirrored)),
        ("BackupVerifier", "weekly"),
    ])
    verifier = mirrored[("BackupVerifier", "team-a", "weekly")]
    assert verifier["apiVersion"] == "core.stashboard.io/v1alpha1"
    assert verifier["spec"]["scratchTarget"]["apiGroup"] == "appcatalog.stashboard.io"
    assert verifier["status"]["indexPrefix"].startswith("verify-")
    config = mirrored[("BackupConfiguration", "team-a", "nightly")]
    assert config["apiVersion"] == "core.stashboard.io/v1alpha1"
    assert config["metadata"]["labels"][MANAGED_BY] == "stashboard"
    assert config["spec"]["target"] == {"apiGroup": "appcatalog.stashboard.io", "kind": "AppBinding", "name": "es",
                                        "namespace": "team-a"}
    assert config["spec"]["sessions"][0]["scheduler"]["schedule"] == "30 1 * * *"
    snapshot = mirrored[("Snapshot", "team-a", _snapshot_name(mirrored))]
    assert snapshot["apiVersion"] == "storage.stashboard.io/v1alpha1"
    assert snapshot["status"]["phase"] == "Succeeded"
    assert snapshot["status"]["components"]["dump"]["logs-1"]["docs"] == 10
    storage = mirrored[("BackupStorage", "team-a", "s3")]
    assert storage["spec"]["storage"]["s3"]["secretName"] == "s3-creds"
    # Secrets are never mirrored, not even without their values.
    assert not any(kind == "Secret" for kind, _, _ in objects(k8s_api))


def _session_name(mirrored):
    return next(name for kind, _, name in mirrored if kind == "BackupSession")


def _snapshot_name(mirrored):
    return next(name for kind, _, name in mirrored if kind == "Snapshot")


def test_a_second_turn_with_nothing_changed_writes_nothing(teams, k8s_api):
    one_of_each(teams["a"])
    run_sync()
    mark = len(k8s_api.requests)
    assert "0 created, 0 patched, 0 status patched, 0 deleted" in run_sync()
    assert writes(k8s_api, mark) == []


def test_an_update_of_one_row_patches_exactly_one_cr(teams, k8s_api):
    from storage.models import BackupStorage, Repository

    one_of_each(teams["a"])
    run_sync()
    mark = len(k8s_api.requests)
    BackupStorage.objects.filter(name="s3").update(bucket="other-bucket")
    run_sync()
    assert writes(k8s_api, mark) == [("PATCH", "/apis/storage.stashboard.io/v1alpha1/namespaces/team-a/backupstorages/s3")]
    assert objects(k8s_api)[("BackupStorage", "team-a", "s3")]["spec"]["storage"]["s3"]["bucket"] == "other-bucket"

    mark = len(k8s_api.requests)
    Repository.objects.filter(name="es-s3").update(snapshot_count=7, phase="Ready")
    run_sync()
    # A status change goes to the status subresource only.
    assert writes(k8s_api, mark) == [
        ("PATCH", "/apis/storage.stashboard.io/v1alpha1/namespaces/team-a/repositories/es-s3/status")]
    assert objects(k8s_api)[("Repository", "team-a", "es-s3")]["status"]["snapshotCount"] == 7


def test_a_removed_field_is_removed_from_the_cr(teams, k8s_api):
    from storage.models import BackupStorage

    one_of_each(teams["a"])
    run_sync()
    BackupStorage.objects.filter(name="s3").update(prefix="")
    run_sync()
    assert "prefix" not in objects(k8s_api)[("BackupStorage", "team-a", "s3")]["spec"]["storage"]["s3"]


def test_a_deleted_row_deletes_its_cr_and_nothing_unmanaged(teams, k8s_api):
    from restores.models import RestoreSession

    one_of_each(teams["a"])
    run_sync()
    rs = "core.stashboard.io/v1alpha1/restoresessions"
    k8s_api.emulator.objects[rs, "team-a", "by-hand"] = {
        "apiVersion": "core.stashboard.io/v1alpha1", "kind": "RestoreSession",
        "metadata": {"name": "by-hand", "namespace": "team-a"}, "spec": {}}
    k8s_api.emulator.objects[rs, "team-a", "by-argo"] = {
        "apiVersion": "core.stashboard.io/v1alpha1", "kind": "RestoreSession",
        "metadata": {"name": "by-argo", "namespace": "team-a", "labels": {MANAGED_BY: "argocd"}}, "spec": {}}
    mark = len(k8s_api.requests)
    RestoreSession.objects.filter(name="restore-logs").delete()
    run_sync()
    assert writes(k8s_api, mark) == [
        ("DELETE", "/apis/core.stashboard.io/v1alpha1/namespaces/team-a/restoresessions/restore-logs")]
    left = objects(k8s_api, "team-a")
    assert ("RestoreSession", "team-a", "by-hand") in left and ("RestoreSession", "team-a", "by-argo") in left


def test_an_unmanaged_object_with_a_rows_name_is_left_alone(teams, k8s_api):
    from tests import factories as f

    f.retention(teams["a"], "keep-5")
    k8s_api.emulator.objects["storage.stashboard.io/v1alpha1/retentionpolicies", "team-a", "keep-5"] = {
        "apiVersion": "storage.stashboard.io/v1alpha1", "kind": "RetentionPolicy",
        "metadata": {"name": "keep-5", "namespace": "team-a"}, "spec": {"successfulSnapshots": {"last": 99}}}
    out = run_sync()
    assert "1 left alone (not ours)" in out
    assert objects(k8s_api)[("RetentionPolicy", "team-a", "keep-5")]["spec"] == {"successfulSnapshots": {"last": 99}}


def test_each_team_goes_to_its_own_namespace_as_mapped(teams, k8s_api, settings):
    from tests import factories as f

    settings.K8S_NAMESPACE_MAP = {"team-a": "backups-prod"}
    settings.K8S_NAMESPACE_TEMPLATE = "sb-{slug}"
    f.retention(teams["a"], "keep-a")
    f.repository(teams["b"], "repo-b")
    run_sync()
    keys = {(kind, ns, name) for kind, ns, name in objects(k8s_api)}
    assert ("RetentionPolicy", "backups-prod", "keep-a") in keys
    assert ("Repository", "sb-team-b", "repo-b") in keys
    repo = objects(k8s_api)[("Repository", "sb-team-b", "repo-b")]
    assert repo["spec"]["storageRef"] == {"name": "local", "namespace": "sb-team-b"}


def test_two_teams_on_one_namespace_are_refused(teams, k8s_api, settings):
    from dashboard.k8s.sync import NamespaceClash

    settings.K8S_NAMESPACE_TEMPLATE = "shared"
    with pytest.raises(NamespaceClash, match="both map to namespace 'shared'"):
        run_sync()


def test_dry_run_prints_a_diff_and_writes_nothing(teams, k8s_api):
    from storage.models import BackupStorage

    one_of_each(teams["a"])
    out = run_sync("--dry-run")
    assert "+ create BackupStorage team-a/s3" in out and "dry run: " in out
    assert objects(k8s_api) == {}
    run_sync()
    BackupStorage.objects.filter(name="s3").update(bucket="moved")
    mark = len(k8s_api.requests)
    out = run_sync("--dry-run")
    assert "~ update BackupStorage team-a/s3" in out
    assert "-      bucket: stash" in out and "+      bucket: moved" in out
    assert writes(k8s_api, mark) == []


def test_the_command_refuses_when_the_mirror_is_off(teams, settings):
    from django.core.management.base import CommandError

    settings.K8S_SYNC_ENABLED = False
    with pytest.raises(CommandError, match="K8S_SYNC_ENABLED=true"):
        run_sync()
