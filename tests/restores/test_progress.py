"""The progress a running restore writes (restores.jobs.RestoreProgress), from the
engine's own events: a real restore of two indices out of three, run by the job function."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from restores import jobs as restore_jobs
from restores.models import RestoreSession
from runtime.heartbeat import Heartbeat
from storage.models import Repository
from tests import factories as f
from tests.fixtures.flows import make_config, ready
from tests.peers.clusters import ONE_KIND
from tests.peers.osmem import count, seed

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


@pytest.fixture
def written(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every state the job hands its heartbeat (a spy: the heartbeat still writes the row)."""
    states: list[dict[str, Any]] = []
    update = Heartbeat.update

    def spy(self: Heartbeat, **values: Any) -> None:
        update(self, **values)
        states.append(self.snapshot())

    monkeypatch.setattr(Heartbeat, "update", spy)
    return states


def restored_in_small_steps(world, es_url, es_url2, written, docs: dict[str, int], name: str,
                            **task_params: Any) -> RestoreSession:
    """`docs` backed up from es_url, then restored into es_url2 by the job function in
    small bulk requests with one sender, so that each index loads in many steps; `written`
    holds the restore's states only."""
    for index, n in docs.items():
        seed(es_url, index, n)
    ready(world, make_config(world, ",".join(docs)))
    written.clear()  # the backup's own states
    target = f.cluster(world["team"], "es2", url=es_url2)
    restore = f.restore(world["team"], Repository.objects.get(), target, name,
                        task_params={"bulk_bytes": 4096, "parallelism": 1, **task_params})
    restore_jobs.run_restore(restore.pk)
    return restore


def test_a_restore_counts_the_chosen_indices_and_grows_while_each_index_loads(world, es_url, es_url2, written):
    restore = restored_in_small_steps(world, es_url, es_url2, written, {"logs-a": 600, "logs-b": 400, "users": 500},
                                      "restore-logs", indices="logs-*", rename_pattern="^(.*)$", rename_replacement="r-\\1")
    restore.refresh_from_db()
    assert restore.phase == "Succeeded", restore.error
    assert count(es_url2, "r-logs-a") == 600 and count(es_url2, "r-logs-b") == 400

    # the total is what was chosen (not the 1,500 documents of the whole snapshot)
    assert written and {s.get("total_docs") for s in written} == {1000}
    assert restore.progress["total_docs"] == 1000 and restore.progress["docs"] == 1000

    # documents grow while an index loads, never backwards
    during_a = [s["docs"] for s in written if s.get("index") == "r-logs-a" and s["indices"]["r-logs-a"]["status"] == "Running"]
    assert any(0 < d < 600 for d in during_a), during_a
    docs = [s["docs"] for s in written]
    assert docs == sorted(docs)
    during_b = [s["docs"] for s in written if s.get("index") == "r-logs-b" and s["indices"]["r-logs-b"]["status"] == "Running"]
    assert any(600 < d < 1000 for d in during_b), during_b

    # each index appears when it starts, with its source, and is finished when it ends
    first_a = next(s for s in written if s.get("indices"))
    assert list(first_a["indices"]) == ["r-logs-a"] and first_a["indices"]["r-logs-a"]["source"] == "logs-a"
    b_started = next(s for s in written if "r-logs-b" in s["indices"])
    assert b_started["indices"]["r-logs-a"] == {"source": "logs-a", "docs": 600, "expected": 600, "status": "Succeeded"}
    assert b_started["indices"]["r-logs-b"]["status"] == "Running"
    assert restore.resolved_snapshot_id


def test_the_restore_page_shows_the_running_indices_from_the_jobs_progress(world, es_url, es_url2, written):
    restore = restored_in_small_steps(world, es_url, es_url2, written, {"logs-a": 300, "logs-b": 200}, "restore-page")
    mid = next(s for s in written if "logs-b" in s.get("indices", {}) and s["indices"]["logs-b"]["status"] == "Running")
    # the row as it was then: the job's own state, written back as the heartbeat writes it
    RestoreSession.objects.filter(pk=restore.pk).update(phase="Running", finished=None, components={}, progress=mid)
    owner = f.user("alice", world["team"], "owner")
    c = Client()
    c.force_login(owner)
    html = c.get(reverse("restores:restore-detail", args=[restore.uuid]), HTTP_HX_REQUEST="true").content.decode()
    assert "Waiting for the first index" not in html
    assert "logs-a" in html and "logs-b" in html and "/ 500" in html  # of the chosen 500
    assert "badge-ok\">Succeeded" in html and "badge-run\">Running" in html
