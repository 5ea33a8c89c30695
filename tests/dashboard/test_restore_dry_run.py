"""The restore wizard's dry run: per index, created, skipped, overwritten, merged into or
failing on the target, by the restore's conflict policy and rename, with sizes and a time
estimate that says which measurements it comes from."""
from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from restores import jobs as restore_jobs
from tests import factories as f
from tests.dashboard.conftest import client_for
from tests.peers.clusters import ONE_KIND

pytestmark = pytest.mark.search_kinds("osmem", "opensearch-2")


def _rows(html: str) -> dict[str, str]:
    return {row.split('"')[0]: row for row in html.split('data-target="')[1:]}


def _wizard(world: dict[str, Any], **kw: str) -> dict[str, str]:
    return {"repository": str(world["repo"].pk), "snapshot": world["first"].snapshot_id, "indices": "*",
            "exclude": "", "target": str(world["cluster"].pk), "conflict": "skip", **kw}


def test_the_dry_run_says_what_each_conflict_policy_would_do(backed_up: dict[str, Any]) -> None:
    # the cluster now holds logs-a (55 docs), users and events; the first snapshot logs-a, logs-b and users
    url = reverse("restores:restore-dry-run")
    alice = client_for(backed_up["alice"])
    r = alice.get(url, _wizard(backed_up), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    rows = _rows(html)
    assert set(rows) == {"logs-a", "logs-b", "users"}
    assert 'data-action="skip"' in rows["logs-a"] and 'data-action="create"' in rows["logs-b"]
    assert ">55 docs<" in rows["logs-a"] and ">40<" in rows["logs-a"]   # there now, and in the snapshot

    rows = _rows(alice.get(url, _wizard(backed_up, conflict="overwrite"), HTTP_HX_REQUEST="true").content.decode())
    assert 'data-action="overwrite"' in rows["logs-a"] and 'data-action="overwrite"' in rows["users"]
    rows = _rows(alice.get(url, _wizard(backed_up, conflict="merge", indices="logs-*"), HTTP_HX_REQUEST="true").content.decode())
    assert set(rows) == {"logs-a", "logs-b"} and 'data-action="merge"' in rows["logs-a"]
    rows = _rows(alice.get(url, _wizard(backed_up, conflict="fail"), HTTP_HX_REQUEST="true").content.decode())
    assert 'data-action="fail"' in rows["users"]
    html = alice.get(url, _wizard(backed_up, conflict="fail", rename_pattern="^(.*)$", rename_replacement=r"copy-\1"),
                     HTTP_HX_REQUEST="true").content.decode()
    assert {k: 'data-action="create"' in v for k, v in _rows(html).items()} == \
        {"copy-logs-a": True, "copy-logs-b": True, "copy-users": True}


def test_the_estimate_says_where_its_speeds_come_from(backed_up: dict[str, Any], search: Any) -> None:
    url = reverse("restores:restore-dry-run")
    alice = client_for(backed_up["alice"])
    html = alice.get(url, _wizard(backed_up, rename_pattern="^(.*)$", rename_replacement=r"r1-\1"),
                     HTTP_HX_REQUEST="true").content.decode()
    assert "no restore from repo yet: the speed of its last 2 backup(s)" in html
    assert "<strong>about " in html or "<strong>under a second" in html
    if search.is_real:   # a real node keeps indexing counters; osmem does not
        assert "from es&#x27;s indexing counters (_stats:" in html

    restore = f.restore(backed_up["a"], backed_up["repo"], backed_up["cluster"], name="r1",
                        snapshot=backed_up["first"].snapshot_id,
                        task_params={"rename_pattern": "^(.*)$", "rename_replacement": r"r1-\1"})
    assert restore_jobs.run_restore(restore.pk) == "Succeeded"
    html = alice.get(url, _wizard(backed_up, rename_pattern="^(.*)$", rename_replacement=r"r2-\1"),
                     HTTP_HX_REQUEST="true").content.decode()
    assert "measured over the last 1 restore(s) from repo" in html


@pytest.mark.search_kinds(ONE_KIND)  # who may ask, not what the target answers
def test_the_dry_run_is_team_scoped_and_loads_with_the_review(backed_up: dict[str, Any]) -> None:
    url = reverse("restores:restore-dry-run")
    assert client_for(backed_up["bob"]).get(url, _wizard(backed_up), HTTP_HX_REQUEST="true").status_code == 403
    r = client_for(backed_up["charlie"]).get(url, _wizard(backed_up), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 400 and "Fix the wizard first" in html and "logs-a" not in html
    review = client_for(backed_up["alice"]).post(reverse("restores:restore-new"), {**_wizard(backed_up), "action": "review"})
    html = review.content.decode()
    assert review.status_code == 200 and f'hx-get="{url}"' in html and 'hx-trigger="load"' in html
