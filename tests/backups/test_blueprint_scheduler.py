"""The scheduler's turn reconciles blueprints as a safety net: labels changed by a path
that does not reconcile (a raw update) are caught by a later turn, at most once a minute."""
from __future__ import annotations

from typing import Any

import pytest

from backups.models import BackupConfiguration, Cluster
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def gold(teams: Any, queues: Any, settings: Any, tmp_path: Any) -> Cluster:
    """Team A's cluster labelled for blueprint gold by a raw update (around every reconciling path)."""
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    a = teams["a"]
    f.secret(a, "repo-key")
    f.storage(a, "local")
    cluster = f.cluster(a, "es")
    f.blueprint(a, "gold")
    Cluster.objects.filter(pk=cluster.pk).update(labels={"backup": "gold"})
    return cluster


def scheduler() -> Any:
    import django_rq

    from backups.management.commands.scheduler import Command

    cmd = Command()
    cmd.identity = "test"
    cmd.redis = django_rq.get_connection("default")
    return cmd


def test_the_scheduler_turn_reconciles_what_a_raw_update_left_behind(gold: Cluster, queues: Any) -> None:
    from backups.management.commands.scheduler import BLUEPRINTS_KEY

    cmd = scheduler()
    assert "created team-a/es-gold from blueprint gold" in cmd.handle_one()
    made = BackupConfiguration.objects.get(target=gold)
    assert made.blueprint is not None and made.blueprint.name == "gold"
    Cluster.objects.filter(pk=gold.pk).update(labels={})
    queues.delete(BLUEPRINTS_KEY)  # a minute later
    assert "paused team-a/es-gold: its cluster no longer matches blueprint gold" in cmd.handle_one()
    assert BackupConfiguration.objects.get(target=gold).paused


def test_two_turns_within_the_minute_reconcile_once(gold: Cluster, queues: Any) -> None:
    from backups.management.commands.scheduler import BLUEPRINTS_EVERY, BLUEPRINTS_KEY

    first, second = scheduler(), scheduler()  # the throttle is Redis's, shared by a new leader too
    assert "created team-a/es-gold from blueprint gold" in first.handle_one()
    Cluster.objects.filter(pk=gold.pk).update(labels={})
    assert not any("blueprint" in line for line in second.handle_one() + first.handle_one())
    assert not BackupConfiguration.objects.get(target=gold).paused
    assert 0 < queues.ttl(BLUEPRINTS_KEY) <= BLUEPRINTS_EVERY
