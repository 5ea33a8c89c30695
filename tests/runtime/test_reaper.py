"""The reaper knows every running model by registry, filled from the apps' ready()."""
from __future__ import annotations

from django.apps import apps

from backups.models import Snapshot
from restores.models import RestoreSession, VerificationRun
from runtime import reaper
from runtime.models import RunningRow


def test_every_model_a_job_runs_is_registered_with_the_reaper() -> None:
    running = {m for m in apps.get_models() if issubclass(m, RunningRow)}
    assert running == {Snapshot, RestoreSession, VerificationRun}
    assert {kind.model for kind in reaper.KINDS} == running
    assert {kind.model: kind.queue for kind in reaper.KINDS} == {
        Snapshot: "backups", RestoreSession: "restores", VerificationRun: "restores"}


def test_registering_a_model_again_replaces_it() -> None:
    before = list(reaper.KINDS)
    try:
        kind = next(k for k in before if k.model is RestoreSession)
        reaper.register(reaper.RunningKind(RestoreSession, "default", kind.job))
        assert [k.queue for k in reaper.KINDS if k.model is RestoreSession] == ["default"]
        assert len(reaper.KINDS) == len(before)
    finally:
        reaper.KINDS[:] = before
