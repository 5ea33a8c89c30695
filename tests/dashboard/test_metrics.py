"""/metrics names every team: closed by default (a bearer token, or loopback only)."""
from __future__ import annotations

import pytest
from django.test import Client

from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def repos(teams):  # type: ignore[no-untyped-def]
    f.repository(teams["a"], "repo-of-a")
    f.repository(teams["b"], "repo-of-b")


@pytest.mark.parametrize("remote", ["127.0.0.1", "::1"])
def test_without_a_token_this_machine_may_scrape(repos, settings, remote):
    settings.METRICS_TOKEN = ""
    response = Client(REMOTE_ADDR=remote).get("/metrics")
    assert response.status_code == 200
    assert 'repository="repo-of-b"' in response.content.decode()


@pytest.mark.parametrize("remote, headers", [("10.1.2.3", {}), ("192.168.0.7", {"Authorization": "Bearer guess"}),
                                             ("127.0.0.1", {"X-Forwarded-For": "203.0.113.9"}),
                                             ("127.0.0.1", {"Forwarded": "for=203.0.113.9"})])
def test_without_a_token_other_machines_are_refused(repos, settings, remote, headers):
    settings.METRICS_TOKEN = ""
    response = Client(REMOTE_ADDR=remote, headers=headers).get("/metrics")
    assert response.status_code == 403
    body = response.content.decode()
    assert "set METRICS_TOKEN" in body and "repo-of" not in body and "team-" not in body


def test_with_a_token_only_the_bearer_token_is_let_in(repos, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    good = Client(REMOTE_ADDR="10.1.2.3", headers={"Authorization": "Bearer s3cret-token"}).get("/metrics")
    assert good.status_code == 200 and 'repository="repo-of-a"' in good.content.decode()
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret-token"},
                    {"Authorization": "Basic s3cret-token"}):
        for remote in ("10.1.2.3", "127.0.0.1"):  # loopback is no bypass once a token is set
            response = Client(REMOTE_ADDR=remote, headers=headers).get("/metrics")
            assert response.status_code == 401, (headers, remote)
            assert "repo-of" not in response.content.decode()
