from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from api.models import ApiToken
from tests import factories as f


class Api:
    """A client that speaks JSON to /api/v1 with one token."""

    def __init__(self, token: str | None) -> None:
        self.client = Client()
        self.headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(self, method: str, path: str, body: Any = None, **params: Any) -> Any:
        url = "/api/v1" + path
        if params:
            url += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        kw: dict[str, Any] = {"headers": self.headers}
        if body is not None:
            kw.update(data=body, content_type="application/json")
        return getattr(self.client, method.lower())(url, **kw)

    def get(self, path: str, **params: Any) -> Any:
        return self.call("GET", path, **params)

    def post(self, path: str, body: Any = None) -> Any:
        return self.call("POST", path, body)

    def put(self, path: str, body: Any) -> Any:
        return self.call("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self.call("DELETE", path)


@pytest.fixture
def world(teams: dict[str, Any], settings: Any, tmp_path: Any) -> dict[str, Any]:
    """Team A with one of everything, team B with a storage; a token of each kind."""
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    settings.ALLOWED_HOSTS = ["testserver", "localhost", "127.0.0.1"]
    a, b = teams["a"], teams["b"]
    secret = f.secret(a, "repo-key")
    storage = f.storage(a, "local")
    retention = f.retention(a)
    cluster = f.cluster(a, "es")
    repo = f.repository(a, "repo", storage_obj=storage, secret_obj=secret, phase="Ready")
    config = f.configuration(a, "nightly", target=cluster, repositories=[repo], retention_obj=retention)
    done = f.backup_session(config, phase="Succeeded", name="nightly-done")
    snap = f.snapshot(done, repo, phase="Succeeded", name="nightly-done-repo", snapshot_id="ab" * 32, size_bytes=2048,
                      total_docs=30, components={"dump": {"logs-1": {"docs": 10, "bytes": 1024, "duration": 0.5,
                                                                     "skipped_unchanged": False, "error": ""}}})
    running = f.backup_session(config, phase="Running", name="nightly-running")
    f.snapshot(running, repo, phase="Running", name="nightly-running-repo")
    restore = f.restore(a, repo, cluster, name="restore-1", phase="Succeeded")
    pending_restore = f.restore(a, repo, cluster, name="restore-2", phase="Pending")
    verifier = f.verifier(a, "weekly-check", repo=repo, target=cluster)
    f.storage(b, "theirs")
    f.blueprint(a, "gold")  # selects backup=gold, which no cluster has yet
    tokens = {}
    for key, team, scope, user in (("rw", a, "write", teams["alice"]), ("ro", a, "read", teams["alice"]),
                                   ("b", b, "write", teams["charlie"])):
        tokens[key] = ApiToken.issue(team, f"{key} token", scope, user)[1]
    return {**teams, "secret": secret, "storage": storage, "retention": retention, "cluster": cluster, "repo": repo,
            "config": config, "session": done, "snapshot": snap, "running": running, "restore": restore,
            "pending_restore": pending_restore, "verifier": verifier, "tokens": tokens}


@pytest.fixture
def rw(world: dict[str, Any]) -> Api:
    return Api(world["tokens"]["rw"])


@pytest.fixture
def ro(world: dict[str, Any]) -> Api:
    return Api(world["tokens"]["ro"])


@pytest.fixture
def other(world: dict[str, Any]) -> Api:
    return Api(world["tokens"]["b"])
