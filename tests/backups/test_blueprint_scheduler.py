"""The scheduler's turn reconciles blueprints as a safety net: labels changed by a path
that does not reconcile (a raw update) are caught on the next turn."""
from __future__ import annotations

import pytest

from backups.models import BackupConfiguration, Cluster
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_the_scheduler_turn_reconciles_what_a_raw_update_left_behind(teams, queues, settings, tmp_path):
    import django_rq

    from backups.management.commands.scheduler import Command

    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    a = teams["a"]
    f.secret(a, "repo-key")
    f.storage(a, "local")
    cluster = f.cluster(a, "es")
    f.blueprint(a, "gold")
    Cluster.objects.filter(pk=cluster.pk).update(labels={"backup": "gold"})  # saved around every reconciling path
    cmd = Command()
    cmd.identity = "test"
    cmd.redis = django_rq.get_connection("default")
    actions = cmd.handle_one()
    assert "created team-a/es-gold from blueprint gold" in actions
    assert BackupConfiguration.objects.get(target=cluster).blueprint.name == "gold"
    Cluster.objects.filter(pk=cluster.pk).update(labels={})
    assert "paused team-a/es-gold: its cluster no longer matches blueprint gold" in cmd.handle_one()
    assert BackupConfiguration.objects.get(target=cluster).paused
