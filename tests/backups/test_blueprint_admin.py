"""The blueprint admin (TeamScopedAdmin): a save reconciles, a cluster's labels saved in
the admin reconcile, and a configuration that follows its blueprint is read only there."""
from __future__ import annotations

import json

import pytest
from django.urls import reverse

from audit.models import Entry
from backups.models import BackupBlueprint, BackupConfiguration
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(teams, settings, tmp_path):
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    for user in ("alice", "bob", "charlie"):
        teams[user].is_staff = True
        teams[user].save()
    f.secret(teams["a"], "repo-key")
    f.storage(teams["a"], "local")
    return teams


def _add(client, team, **over):
    data = {"team": team.pk, "name": "gold", "selector": json.dumps({"matchLabels": {"backup": "gold"}}),
            "configuration_name": "${CLUSTER_NAME}-${BLUEPRINT_NAME}", "template": json.dumps(f.blueprint_template())}
    data.update(over)
    return client.post(reverse("admin:backups_backupblueprint_add"), data)


def test_a_blueprint_saved_in_the_admin_makes_the_configurations_and_is_audited(staff, client):
    cluster = f.cluster(staff["a"], "es", labels={"backup": "gold"})
    client.force_login(staff["alice"])
    response = _add(client, staff["a"])
    assert response.status_code == 302, response.content.decode()[:2000]
    assert BackupConfiguration.objects.get(target=cluster).blueprint.name == "gold"
    assert Entry.objects.filter(via="admin", target_kind="BackupBlueprint", action="created").exists()


def test_the_admin_shows_the_field_that_is_wrong(staff, client):
    client.force_login(staff["alice"])
    template = f.blueprint_template()
    template["sessions"][0]["repositories"][0]["directory"] = "${NAMESPACE}/${CLUSTER_NAME}"
    response = _add(client, staff["a"], template=json.dumps(template))
    assert response.status_code == 200
    assert "unknown variable ${NAMESPACE}" in response.context["adminform"].form.errors["template"][0]
    assert not BackupBlueprint.objects.exists()


def test_viewers_and_other_teams_cannot_add_a_blueprint_to_team_a(staff, client):
    for user in ("bob", "charlie"):
        client.force_login(staff[user])
        response = _add(client, staff["a"])
        assert response.status_code in (200, 403), user
    assert not BackupBlueprint.objects.exists()


def test_labels_saved_in_the_admin_reconcile_and_a_following_configuration_is_read_only(staff, client):
    f.blueprint(staff["a"], "gold")
    cluster = f.cluster(staff["a"], "es")
    client.force_login(staff["alice"])
    data = {"team": staff["a"].pk, "name": "es", "urls": "http://127.0.0.1:9200", "auth": "none", "timeout": 60,
            "verify_tls": "on", "labels": json.dumps({"backup": "gold"})}
    response = client.post(reverse("admin:backups_cluster_change", args=[cluster.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    made = BackupConfiguration.objects.get(target=cluster)
    page = client.get(reverse("admin:backups_backupconfiguration_change", args=[made.pk]))
    assert page.status_code == 200 and page.context["has_change_permission"] is False
    assert client.post(reverse("admin:backups_backupconfiguration_delete", args=[made.pk]), {"post": "yes"}).status_code == 403
    assert BackupConfiguration.objects.filter(pk=made.pk).exists()
