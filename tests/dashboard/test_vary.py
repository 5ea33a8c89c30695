"""Views that answer a partial to HTMX (or whose URL HTMX pushes into the history) say
`Vary: HX-Request`, so that no cache (the browser's back button included) serves the
partial for the page or the page for the partial."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils.cache import cc_delim_re

from tests import factories as f

pytestmark = pytest.mark.django_db


def _varies_on_hx_request(response: Any) -> bool:
    return "hx-request" in {h.lower() for h in cc_delim_re.split(response.get("Vary", ""))}


# (url name, world key of the object in the URL or None, query string)
PARTIAL_VIEWS: list[tuple[str, str | None, str]] = [
    ("dashboard:overview", None, ""),
    ("backups:session-list", None, "?phase=Succeeded"),
    ("backups:session-detail", "running", ""),
    ("backups:session-detail", "session", ""),
    ("restores:restore-detail", "restore", ""),
    ("restores:restore-new", None, "?part=snapshot"),
    # the pages that poll their #live partial until what they show is completed
    ("backups:configuration-detail", "config", ""),
    ("storage:storage-detail", "storage", ""),
    ("storage:repository-detail", "repo", ""),
    ("restores:restore-list", None, ""),
]


@pytest.mark.parametrize("name,key,query", PARTIAL_VIEWS)
@pytest.mark.parametrize("htmx", [False, True], ids=["page", "partial"])
def test_a_view_that_answers_htmx_with_a_partial_varies_on_hx_request(
        world: dict[str, Any], alice: Client, name: str, key: str | None, query: str, htmx: bool) -> None:
    url = reverse(name, args=[world[key].uuid] if key else []) + query
    r = alice.get(url, headers={"HX-Request": "true"} if htmx else {})
    assert r.status_code in (200, 286), (url, r.status_code)
    assert _varies_on_hx_request(r), (url, r.get("Vary"))


def test_the_cluster_test_answer_varies_on_hx_request(world: dict[str, Any], alice: Client) -> None:
    cluster = f.cluster(world["a"], "closed-port", url="http://127.0.0.1:1")
    u = reverse("backups:cluster-test", args=[cluster.uuid])
    for headers in ({}, {"HX-Request": "true"}):
        r = alice.post(u, headers=headers)
        assert r.status_code == 200 and _varies_on_hx_request(r), (headers, r.get("Vary"))


def test_a_page_htmx_never_swaps_in_does_not_vary_on_hx_request(world: dict[str, Any], alice: Client) -> None:
    r = alice.get(reverse("storage:storage-list"))
    assert r.status_code == 200 and not _varies_on_hx_request(r)
