from __future__ import annotations

import json

import pytest

from runtime.hooks import run_hook
from tests import factories as f
from tests.peers.receiver import Received, http_receiver


def echo_headers(request: Received) -> tuple[int, bytes]:
    return 500, json.dumps({"headers": request.headers}).encode()


@pytest.mark.django_db
def test_an_http_hook_sends_secret_headers_and_never_shows_them_back():
    with http_receiver(echo_headers) as server:
        team = f.team("hooks")
        f.secret(team, "hook-headers", {"Authorization": "Bearer s3cr3t-token-xyz"})
        result = run_hook({"name": "notify", "kind": "http", "url": f"{server.url}/",
                           "headersSecret": "hook-headers", "expectedStatus": 200}, team)
    assert result["ok"] is False and result["status"] == 500
    assert "expected status 200, got 500" in result["output"]
    assert "[redacted]" in result["output"] and "s3cr3t-token-xyz" not in result["output"]


@pytest.mark.django_db
def test_a_missing_headers_secret_says_what_to_fix():
    team = f.team("hooks2")
    result = run_hook({"name": "n", "kind": "http", "url": "http://127.0.0.1:9/", "headersSecret": "nope"}, team)
    assert result["ok"] is False and "headersSecret 'nope' does not exist" in result["output"]
