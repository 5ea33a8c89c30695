"""backups/scheduler.py and the scheduler command's turn: one broken row never stops the others."""
from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest

from backups import scheduler
from backups.models import BackupConfiguration, BackupSession, BackupSessionConfig
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_a_row_whose_schedule_never_fires_is_logged_and_the_others_still_run(teams, caplog):
    broken = f.configuration(teams["a"], "broken", schedule="0 * * * *")
    fine = f.configuration(teams["b"], "fine", schedule="0 * * * *")
    BackupConfiguration.objects.update(phase="Ready")
    BackupSessionConfig.objects.update(last_scheduled=datetime(2026, 11, 25, 9, 0, tzinfo=UTC))
    # Saved around validation (an old row, a hand-edited database): croniter cannot find a next run.
    BackupSessionConfig.objects.filter(configuration=broken).update(schedule="0 0 31 2 *")
    with caplog.at_level(logging.ERROR, logger="backups.scheduler"):
        actions = scheduler.tick(now=datetime(2026, 11, 25, 10, 0, 20, tzinfo=UTC))
    assert any(a.startswith("error broken/full: CroniterBadDateError") for a in actions), actions
    assert any(a.startswith("Pending") for a in actions), actions
    assert BackupSession.objects.get().configuration == fine
    assert "scheduling team-a/broken/full failed" in caplog.text


def test_a_failing_step_of_the_turn_leaves_the_others_to_run(teams, queues, caplog, monkeypatch):
    import django_rq

    from backups.management.commands.scheduler import Command

    f.configuration(teams["a"], "nightly")  # its storage is NotReady: reconcile initializes it
    cmd = Command()
    cmd.identity = "test"
    cmd.redis = django_rq.get_connection("default")
    monkeypatch.setattr(scheduler, "tick", lambda now: 1 / 0)  # whatever a step may raise
    with caplog.at_level(logging.ERROR):
        actions = cmd.handle_one()
    assert actions[0] == "error in schedule: ZeroDivisionError: division by zero"
    assert f"initialize storage {teams['a'].pk}/local" in actions
    assert "scheduler step schedule failed" in caplog.text


def test_the_turn_runs_the_steps_other_apps_register(teams, queues):
    """restores registers its verifiers' schedule as a step of the turn (backups does not import it)."""
    import django_rq

    from backups.management.commands.scheduler import Command
    from restores.models import BackupVerifier, VerificationRun

    config = f.configuration(teams["a"], "nightly")
    repo = config.sessions.get().repositories.get()
    f.snapshot(f.backup_session(config, phase="Succeeded"), repo, phase="Succeeded", snapshot_id="ab" * 32)
    v = f.verifier(teams["a"], "check", repo, config.target, every_n_backups=None, schedule="0 * * * *")
    BackupVerifier.objects.filter(pk=v.pk).update(created=datetime(2026, 11, 25, 9, 30, tzinfo=UTC))
    cmd = Command()
    cmd.identity = "test"
    cmd.redis = django_rq.get_connection("default")
    actions = cmd.handle_one(now=datetime(2026, 11, 25, 10, 0, 20, tzinfo=UTC))
    assert "verify team-a/check x1" in actions, actions
    assert VerificationRun.objects.get().verifier == v
