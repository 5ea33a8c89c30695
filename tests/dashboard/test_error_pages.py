"""The 404, 403 and 500 pages in the dashboard's layout, saying what to do (DEBUG=False)."""
from __future__ import annotations

from typing import Any

import pytest
from django.template.loader import render_to_string
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _production(settings: Any) -> None:
    settings.DEBUG = False


def test_another_teams_object_is_a_styled_404_that_says_what_to_do(world: dict[str, Any], alice: Client,
                                                                   charlie: Client) -> None:
    r = charlie.get(reverse("storage:storage-detail", args=[world["storage"].uuid]))
    html = r.content.decode()
    assert r.status_code == 404 and "<h1>Not found</h1>" in html and "belongs to another team" in html
    assert "stashboard.css" in html and 'class="sidebar"' in html and "Team B" in html
    r = alice.get("/no/such/page/")
    assert r.status_code == 404 and "overview" in r.content.decode()


def test_a_viewer_gets_a_styled_403_naming_the_role_to_ask_for(world: dict[str, Any], bob: Client) -> None:
    r = bob.get(reverse("storage:storage-new"))
    html = r.content.decode()
    assert r.status_code == 403 and "<h1>Not allowed</h1>" in html and "Ask an owner" in html and "Team A" in html
    assert 'class="sidebar"' in html


def test_the_500_page_renders_standalone_without_a_request() -> None:
    html = render_to_string("500.html")  # as django.views.defaults.server_error does: no request, no processors
    assert "Something went wrong on our side" in html and "stashboard.css" in html and 'href="/"' in html


def test_a_crashing_view_answers_the_styled_500(world: dict[str, Any], settings: Any) -> None:
    from django.test import Client as RawClient

    c = RawClient(raise_request_exception=False)
    c.force_login(world["alice"])
    settings.ROOT_URLCONF = "tests.dashboard.crashing_urls"
    r = c.get("/crash/")
    assert r.status_code == 500 and "Something went wrong on our side" in r.content.decode()
