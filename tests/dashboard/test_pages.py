"""Every page, tried by alice (owner of team A), bob (viewer in A) and charlie (team B)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

# (url name, world key of the object in the URL or None)
READ_PAGES: list[tuple[str, str | None]] = [
    ("dashboard:overview", None),
    ("dashboard:secret-list", None),
    ("dashboard:storage-list", None),
    ("dashboard:storage-detail", "storage"),
    ("dashboard:retention-list", None),
    ("dashboard:cluster-list", None),
    ("dashboard:cluster-detail", "cluster"),
    ("dashboard:configuration-list", None),
    ("dashboard:configuration-detail", "config"),
    ("dashboard:repository-list", None),
    ("dashboard:repository-detail", "repo"),
    ("dashboard:session-list", None),
    ("dashboard:session-detail", "session"),
    ("dashboard:session-detail", "running"),
    ("dashboard:snapshot-detail", "snapshot"),
    ("dashboard:restore-list", None),
    ("dashboard:restore-detail", "restore"),
    ("dashboard:verifier-list", None),
    ("dashboard:verifier-detail", "verifier"),
]

WRITE_PAGES: list[tuple[str, str | None]] = [
    ("dashboard:secret-new", None),
    ("dashboard:secret-edit", "secret"),
    ("dashboard:secret-delete", "secret"),
    ("dashboard:storage-new", None),
    ("dashboard:storage-edit", "storage"),
    ("dashboard:storage-delete", "storage"),
    ("dashboard:retention-new", None),
    ("dashboard:retention-edit", "retention"),
    ("dashboard:retention-delete", "retention"),
    ("dashboard:cluster-new", None),
    ("dashboard:cluster-edit", "cluster"),
    ("dashboard:cluster-delete", "cluster"),
    ("dashboard:configuration-new", None),
    ("dashboard:configuration-edit", "config"),
    ("dashboard:configuration-delete", "config"),
    ("dashboard:session-config-new", "config"),
    ("dashboard:repository-new", None),
    ("dashboard:repository-delete", "repo"),
    ("dashboard:restore-new", None),
    ("dashboard:verifier-new", None),
    ("dashboard:verifier-edit", "verifier"),
    ("dashboard:verifier-delete", "verifier"),
]


def url(world: dict[str, Any], name: str, key: str | None) -> str:
    return reverse(name, args=[world[key].uuid]) if key else reverse(name)


@pytest.mark.parametrize("name,key", READ_PAGES)
def test_members_read_every_page_and_other_teams_get_404(world: dict[str, Any], alice: Client, bob: Client,
                                                           charlie: Client, name: str, key: str | None) -> None:
    u = url(world, name, key)
    assert alice.get(u).status_code == 200
    assert bob.get(u).status_code == 200
    assert charlie.get(u).status_code == (404 if key else 200)


@pytest.mark.parametrize("name,key", WRITE_PAGES)
def test_write_pages_are_for_owners_and_operators(world: dict[str, Any], alice: Client, bob: Client,
                                                  charlie: Client, name: str, key: str | None) -> None:
    u = url(world, name, key)
    assert alice.get(u).status_code == 200
    assert bob.get(u).status_code == 403
    assert charlie.get(u).status_code == (404 if key else 200)


def test_session_config_edit_page(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("dashboard:session-config-edit", args=[world["config"].uuid, "full"])
    assert alice.get(u).status_code == 200
    assert bob.get(u).status_code == 403
    assert charlie.get(u).status_code == 404
    assert alice.get(reverse("dashboard:session-config-edit", args=[world["config"].uuid, "nope"])).status_code == 404


def test_anonymous_users_are_sent_to_sign_in(world: dict[str, Any], client: Client) -> None:
    r = client.get(reverse("dashboard:overview"))
    assert r.status_code == 302 and r["Location"].startswith(reverse("dashboard:login"))


@pytest.mark.parametrize("name,key", READ_PAGES)
def test_viewers_see_no_buttons_that_change_anything(world: dict[str, Any], bob: Client, name: str, key: str | None) -> None:
    import re

    html = bob.get(url(world, name, key)).content.decode()
    posts = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]*)"', html)
    allowed = {reverse("dashboard:logout"), reverse("dashboard:team-switch")}
    assert set(posts) <= allowed, f"{name} shows a viewer forms that change things: {set(posts) - allowed}"
    links = re.findall(r'href="([^"]*/(?:new|edit|delete)/[^"]*)"', html)
    assert not links, f"{name} shows a viewer links to change things: {links}"


def test_owners_see_the_actions(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(url(world, "dashboard:configuration-detail", "config")).content.decode()
    assert ">Backup now<" in html and ">Pause<" in html
    assert ">Check now<" in alice.get(url(world, "dashboard:repository-detail", "repo")).content.decode()
    assert ">Test connection<" in alice.get(url(world, "dashboard:cluster-detail", "cluster")).content.decode()


def _queries(client: Client, u: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(u).status_code == 200
    return len(ctx.captured_queries)


LIST_PAGES = ["dashboard:overview", "dashboard:secret-list", "dashboard:storage-list", "dashboard:retention-list",
              "dashboard:cluster-list", "dashboard:configuration-list", "dashboard:repository-list",
              "dashboard:session-list", "dashboard:restore-list"]


@pytest.mark.parametrize("name", LIST_PAGES)
def test_list_pages_do_not_grow_queries_with_rows(world: dict[str, Any], alice: Client, name: str,
                                                  django_assert_max_num_queries: Callable[..., Any]) -> None:
    from tests import factories as f

    u = reverse(name)
    before = _queries(alice, u)
    a = world["a"]
    for i in range(3):
        s = f.secret(a, f"more-{i}")
        st = f.storage(a, f"more-{i}")
        f.retention(a, f"more-{i}")
        c = f.cluster(a, f"more-{i}")
        r = f.repository(a, f"more-{i}", storage_obj=st, secret_obj=s)
        conf = f.configuration(a, f"more-{i}", target=c, repositories=[r])
        bs = f.backup_session(conf, phase="Failed")
        f.snapshot(bs, r, phase="Failed")
        f.restore(a, r, c, name=f"more-{i}")
    after = _queries(alice, u)
    assert after == before, f"{name}: {before} queries with few rows, {after} with more (N+1)"
    with django_assert_max_num_queries(14):
        alice.get(u)
