"""An API outage: the loop backs off and resumes, losing and duplicating nothing."""
from __future__ import annotations

from collections import Counter
from typing import Any

import kmock
import pytest

from dashboard.management.commands.k8s_sync import Command
from tests.foundation.test_apply_export import one_of_each
from tests.k8s.conftest import run_sync
from tests.k8s.emulator import EmulatedAPI
from tests.k8s.helpers import objects


def _loop_command() -> Command:
    cmd = Command()
    cmd.teams = None
    cmd.setup()
    return cmd


def _assert_mirror_matches_the_database(api: Any) -> None:
    from dashboard.resources import export
    from tenancy.models import Team

    expected = Counter((d["kind"], d["metadata"]["name"]) for d in export(Team.objects.filter(slug="team-a"))
                       if d["kind"] not in ("Namespace", "Secret"))
    mirrored = Counter((kind, name) for kind, _, name in objects(api, "team-a"))
    assert mirrored == expected


@pytest.mark.django_db(transaction=True)  # the loop closes old connections per turn, as in production
def test_the_loop_backs_off_while_the_api_server_is_down_and_resumes(teams: dict[str, Any], k8s_api: EmulatedAPI, settings: Any) -> None:
    from restores.models import RestoreSession
    from storage.models import BackupStorage

    settings.K8S_SYNC_INTERVAL = 30
    one_of_each(teams["a"])
    cmd = _loop_command()
    waits: list[float] = []

    def scripted_wait(seconds: float) -> None:
        waits.append(seconds)
        if len(waits) == 1:  # after a good turn: the API server goes away, rows change
            k8s_api.stop()
            RestoreSession.objects.filter(name="restore-logs").delete()
            BackupStorage.objects.filter(name="s3").update(bucket="after-outage")
        elif len(waits) == 3:  # two failed turns: it comes back on the same address
            k8s_api.start()
        elif len(waits) == 4:
            cmd.stopping.set()

    cmd.wait = scripted_wait  # type: ignore[method-assign]
    cmd.run_loop()

    assert waits[0] == 30
    # Exponential backoff with jitter (0.8-1.0 of 1s, then of 2s), then the normal interval.
    assert 0.8 <= waits[1] <= 1.0 and 1.6 <= waits[2] <= 2.0 and waits[3] == 30
    mirrored = objects(k8s_api, "team-a")
    assert ("RestoreSession", "team-a", "restore-logs") not in mirrored
    assert mirrored[("BackupStorage", "team-a", "s3")]["spec"]["storage"]["s3"]["bucket"] == "after-outage"
    _assert_mirror_matches_the_database(k8s_api)


@pytest.mark.django_db
def test_writes_whose_answers_are_lost_mid_turn_are_neither_lost_nor_duplicated(teams, k8s_api):
    """The server applies the write but the answer never arrives (a 503 after the fact, as
    from a proxy or an API server restarting): the turn fails, the next one finishes."""
    one_of_each(teams["a"])
    # kmock stores the object before any reaction answers, so a 503 on the 3rd
    # create means "written, answer lost".
    # The slice counts every POST served so far (the fixture's CRDs too).
    before = sum(1 for r in k8s_api.requests if r.method == kmock.method.POST)
    k8s_api.emulator[kmock.method.POST][before + 2:before + 3] << kmock.KubernetesError(
        status=503, reason="ServiceUnavailable", message="etcd leader changed")
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="answered 503"):
        run_sync()
    partial = objects(k8s_api, "team-a")
    assert 0 < len(partial) < 10
    out = run_sync()
    assert "0 errors" in out
    _assert_mirror_matches_the_database(k8s_api)
    assert "0 created, 0 patched, 0 status patched, 0 deleted" in run_sync()


@pytest.mark.django_db
def test_once_says_what_to_check_when_the_api_server_is_unreachable(teams, k8s_api):
    from django.core.management.base import CommandError

    k8s_api.stop()
    with pytest.raises(CommandError, match="unreachable.*K8S_KUBECONFIG"):
        run_sync()
