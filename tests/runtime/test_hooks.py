from __future__ import annotations

import http.server
import json
import threading

import pytest

from runtime.hooks import run_hook
from tests import factories as f


class Echo(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = json.dumps({"headers": dict(self.headers)}).encode()
        self.send_response(500)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.mark.django_db
def test_an_http_hook_sends_secret_headers_and_never_shows_them_back():
    server = http.server.HTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        team = f.team("hooks")
        f.secret(team, "hook-headers", {"Authorization": "Bearer s3cr3t-token-xyz"})
        result = run_hook({"name": "notify", "kind": "http", "url": f"http://127.0.0.1:{server.server_port}/",
                           "headersSecret": "hook-headers", "expectedStatus": 200}, team)
    finally:
        server.shutdown()
    assert result["ok"] is False and result["status"] == 500
    assert "expected status 200, got 500" in result["output"]
    assert "[redacted]" in result["output"] and "s3cr3t-token-xyz" not in result["output"]


@pytest.mark.django_db
def test_a_missing_headers_secret_says_what_to_fix():
    team = f.team("hooks2")
    result = run_hook({"name": "n", "kind": "http", "url": "http://127.0.0.1:9/", "headersSecret": "nope"}, team)
    assert result["ok"] is False and "headersSecret 'nope' does not exist" in result["output"]
