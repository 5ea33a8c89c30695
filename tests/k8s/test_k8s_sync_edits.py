"""The direction back: a spec edited with kubectl on a BackupConfiguration."""
from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from audit.models import Entry
from backups.models import BackupConfiguration
from tests.foundation.test_apply_export import one_of_each
from tests.k8s.conftest import run_sync
from tests.k8s.helpers import objects

pytestmark = pytest.mark.django_db

GROUP, VERSION, PLURAL = "core.stashboard.io", "v1alpha1", "backupconfigurations"


def kubectl_patch(api: Any, body: dict[str, Any], status: bool = False) -> None:
    """What `kubectl patch --type merge` (or an edit) sends."""
    configuration = client.Configuration()
    configuration.host = api.url
    custom = client.CustomObjectsApi(client.ApiClient(configuration))
    call = custom.patch_namespaced_custom_object_status if status else custom.patch_namespaced_custom_object
    call(GROUP, VERSION, "team-a", PLURAL, "nightly", body, _content_type="application/merge-patch+json")


def config_cr(api: Any) -> dict[str, Any]:
    return objects(api)[("BackupConfiguration", "team-a", "nightly")]


def test_accept_edits_applies_a_pause_made_on_the_cr(teams, k8s_api):
    one_of_each(teams["a"])
    run_sync()
    kubectl_patch(k8s_api, {"spec": {"paused": True}})
    out = run_sync("--accept-edits")
    assert "1 edits applied" in out and "0 errors" in out
    assert BackupConfiguration.objects.get(name="nightly").paused is True
    assert config_cr(k8s_api)["spec"]["paused"] is True
    edit = Entry.objects.get(action="changed", target_name="nightly")  # the audit log names the command
    assert edit.actor.startswith("manage.py k8s_sync --accept-edits (") and edit.fields == ["spec.paused"]
    # The CR now says it was written from the database again: nothing more to do.
    assert "0 created, 0 patched, 0 status patched, 0 deleted, 0 edits applied" in run_sync("--accept-edits")


def test_an_edit_and_a_dashboard_change_made_meanwhile_are_both_kept(teams, k8s_api):
    one_of_each(teams["a"])
    run_sync()
    kubectl_patch(k8s_api, {"spec": {"paused": True}})
    BackupConfiguration.objects.filter(name="nightly").update(timezone="Europe/Paris")
    run_sync("--accept-edits")
    config = BackupConfiguration.objects.get(name="nightly")
    assert config.paused is True and config.timezone == "Europe/Paris"
    assert config_cr(k8s_api)["spec"]["timeZone"] == "Europe/Paris"


def test_without_accept_edits_the_databases_spec_is_put_back(teams, k8s_api):
    one_of_each(teams["a"])
    run_sync()
    kubectl_patch(k8s_api, {"spec": {"paused": True}})
    run_sync()
    assert BackupConfiguration.objects.get(name="nightly").paused is False
    assert "paused" not in config_cr(k8s_api)["spec"]


def test_status_stays_ours_even_with_accept_edits(teams, k8s_api):
    one_of_each(teams["a"])
    run_sync()
    phase = BackupConfiguration.objects.get(name="nightly").phase
    kubectl_patch(k8s_api, {"status": {"phase": "Invalid"}}, status=True)
    run_sync("--accept-edits")
    assert BackupConfiguration.objects.get(name="nightly").phase == phase
    assert config_cr(k8s_api)["status"]["phase"] == phase


def test_an_invalid_edit_is_refused_with_its_path_and_put_back(teams, k8s_api):
    from django.core.management.base import CommandError

    one_of_each(teams["a"])
    run_sync()
    kubectl_patch(k8s_api, {"spec": {"target": {"name": "no-such-cluster"}}})
    with pytest.raises(CommandError, match="could not be mirrored"):
        run_sync("--accept-edits")
    assert BackupConfiguration.objects.get(name="nightly").target.name == "es"
    assert config_cr(k8s_api)["spec"]["target"]["name"] == "es"


def test_edits_to_other_kinds_are_put_back(teams, k8s_api):
    from storage.models import BackupStorage

    one_of_each(teams["a"])
    run_sync()
    configuration = client.Configuration()
    configuration.host = k8s_api.url
    client.CustomObjectsApi(client.ApiClient(configuration)).patch_namespaced_custom_object(
        "storage.stashboard.io", VERSION, "team-a", "backupstorages", "s3", {"spec": {"default": False}},
        _content_type="application/merge-patch+json")
    run_sync("--accept-edits")
    assert BackupStorage.objects.get(name="s3").default is True
    assert objects(k8s_api)[("BackupStorage", "team-a", "s3")]["spec"]["default"] is True
