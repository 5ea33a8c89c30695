"""A blueprint end to end with a worker: labelling a cluster makes its configuration,
whose repository is initialized and whose instant backup runs (the existing flow); the
labels removed pause it and its snapshot stays; labelled again, it resumes."""
from __future__ import annotations

import io

import pytest
import yaml
from django.core.management import call_command

from backups import blueprints
from backups.models import BackupConfiguration, BackupSession, Snapshot
from storage.models import BackupStorage
from tests import factories as f
from tests.fixtures.flows import work
from tests.peers.osmem import seed


@pytest.mark.search_kinds("osmem")
def test_labelling_a_cluster_backs_it_up_and_unlabelling_pauses_it_keeping_the_snapshot(world, es_url, tmp_path):
    seed(es_url, "bp-logs", 12)
    team = world["team"]
    manifest = tmp_path / "bp.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupBlueprint",
        "metadata": {"name": "gold", "namespace": "team-a"},
        "spec": {"selector": {"matchExpressions": [{"key": "backup", "operator": "In", "values": ["gold"]}]},
                 "backupConfigurationTemplate": f.blueprint_template(addon={"name": "elasticsearch-addon", "tasks": [
                     {"name": "logical-backup", "params": {"indices": "bp-*"}}]})}}))
    call_command("apply", "-f", str(manifest), stdout=io.StringIO())
    BackupStorage.objects.filter(pk=world["storage"].pk).update(phase="Ready")
    assert not BackupConfiguration.objects.filter(blueprint__isnull=False).exists()  # nothing labelled yet

    app = yaml.safe_load(_export("AppBinding"))
    app["metadata"]["labels"] = {"backup": "gold"}
    (tmp_path / "app.yaml").write_text(yaml.safe_dump(app))
    call_command("apply", "-f", str(tmp_path / "app.yaml"), stdout=io.StringIO())
    work()
    config = BackupConfiguration.objects.get(blueprint__name="gold")
    assert (config.name, config.phase) == ("es-gold", "Ready")
    session = BackupSession.objects.get(configuration=config)
    assert (session.trigger, session.phase) == ("instant", "Succeeded"), session.error
    snapshot = Snapshot.objects.get(backup_session=session)
    assert snapshot.components["dump"]["bp-logs"]["docs"] == 12

    cluster = world["cluster"]
    cluster.labels = {}
    cluster.save()
    blueprints.reconcile(team)
    config.refresh_from_db()
    assert config.paused and config.blueprint_paused
    assert Snapshot.objects.filter(pk=snapshot.pk, phase="Succeeded").exists()

    cluster.labels = {"backup": "gold"}
    cluster.save()
    assert blueprints.reconcile(team) == ["resumed team-a/es-gold from blueprint gold"]
    config.refresh_from_db()
    assert not config.paused
    work()
    assert BackupSession.objects.filter(configuration=config).count() == 1  # resuming starts no second instant backup


def _export(kind: str) -> str:
    out = io.StringIO()
    call_command("export", "--team", "team-a", "--kind", kind, stdout=out)
    return out.getvalue()
