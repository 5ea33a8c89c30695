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
    ("storage:secret-list", None),
    ("storage:storage-list", None),
    ("storage:storage-detail", "storage"),
    ("storage:retention-list", None),
    ("backups:cluster-list", None),
    ("backups:cluster-detail", "cluster"),
    ("backups:configuration-list", None),
    ("backups:configuration-detail", "config"),
    ("storage:repository-list", None),
    ("storage:repository-detail", "repo"),
    ("backups:session-list", None),
    ("backups:session-detail", "session"),
    ("backups:session-detail", "running"),
    ("backups:snapshot-detail", "snapshot"),
    ("restores:restore-list", None),
    ("restores:restore-detail", "restore"),
    ("restores:verifier-list", None),
    ("restores:verifier-detail", "verifier"),
]

WRITE_PAGES: list[tuple[str, str | None]] = [
    ("storage:secret-new", None),
    ("storage:secret-edit", "secret"),
    ("storage:secret-delete", "secret"),
    ("storage:storage-new", None),
    ("storage:storage-edit", "storage"),
    ("storage:storage-delete", "storage"),
    ("storage:retention-new", None),
    ("storage:retention-edit", "retention"),
    ("storage:retention-delete", "retention"),
    ("backups:cluster-new", None),
    ("backups:cluster-edit", "cluster"),
    ("backups:cluster-delete", "cluster"),
    ("backups:configuration-new", None),
    ("backups:configuration-edit", "config"),
    ("backups:configuration-delete", "config"),
    ("backups:session-config-new", "config"),
    ("storage:repository-new", None),
    ("storage:repository-delete", "repo"),
    ("restores:restore-new", None),
    ("restores:verifier-new", None),
    ("restores:verifier-edit", "verifier"),
    ("restores:verifier-delete", "verifier"),
]


def url(world: dict[str, Any], name: str, key: str | None) -> str:
    return reverse(name, args=[world[key].uuid]) if key else reverse(name)


def statuses(u: str, *clients: Client) -> list[int]:
    """What each client gets at `u`."""
    return [c.get(u).status_code for c in clients]


@pytest.mark.parametrize("name,key", READ_PAGES)
def test_members_read_every_page_and_other_teams_get_404(world: dict[str, Any], alice: Client, bob: Client,
                                                           charlie: Client, name: str, key: str | None) -> None:
    assert statuses(url(world, name, key), alice, bob, charlie) == [200, 200, 404 if key else 200]


@pytest.mark.parametrize("name,key", WRITE_PAGES)
def test_write_pages_are_for_owners_and_operators(world: dict[str, Any], alice: Client, bob: Client,
                                                  charlie: Client, name: str, key: str | None) -> None:
    assert statuses(url(world, name, key), alice, bob, charlie) == [200, 403, 404 if key else 200]


def test_session_config_edit_page(world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    u = reverse("backups:session-config-edit", args=[world["config"].uuid, "full"])
    assert alice.get(u).status_code == 200
    assert bob.get(u).status_code == 403
    assert charlie.get(u).status_code == 404
    assert alice.get(reverse("backups:session-config-edit", args=[world["config"].uuid, "nope"])).status_code == 404


def test_anonymous_users_are_sent_to_sign_in(world: dict[str, Any], client: Client) -> None:
    r = client.get(reverse("dashboard:overview"))
    assert r.status_code == 302 and r["Location"].startswith(reverse("dashboard:login"))


@pytest.mark.parametrize("name,key", READ_PAGES)
def test_viewers_see_no_buttons_that_change_anything(world: dict[str, Any], bob: Client, name: str, key: str | None) -> None:
    import re

    html = bob.get(url(world, name, key)).content.decode()
    posts = re.findall(r'<form[^>]*method="post"[^>]*action="([^"]*)"', html)
    allowed = {reverse("dashboard:logout"), reverse("tenancy:team-switch")}
    assert set(posts) <= allowed, f"{name} shows a viewer forms that change things: {set(posts) - allowed}"
    links = re.findall(r'href="([^"]*/(?:new|edit|delete)/[^"]*)"', html)
    assert not links, f"{name} shows a viewer links to change things: {links}"


def test_owners_see_the_actions(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(url(world, "backups:configuration-detail", "config")).content.decode()
    assert ">Backup now<" in html and ">Pause<" in html
    assert ">Check now<" in alice.get(url(world, "storage:repository-detail", "repo")).content.decode()
    assert ">Test connection<" in alice.get(url(world, "backups:cluster-detail", "cluster")).content.decode()


def _queries(client: Client, u: str) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(u).status_code == 200
    return len(ctx.captured_queries)


LIST_PAGES = ["dashboard:overview", "storage:secret-list", "storage:storage-list", "storage:retention-list",
              "backups:cluster-list", "backups:configuration-list", "storage:repository-list",
              "backups:session-list", "restores:restore-list"]


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
