from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests import factories as f
from tests.dashboard.backed_up import backed_up  # noqa: F401 - fixtures of the pages that read real snapshots


@pytest.fixture
def world(teams: dict[str, Any], settings: Any, tmp_path: Any) -> dict[str, Any]:
    """Team A with one of everything (a finished and a running session), team B with a storage."""
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    a = teams["a"]
    secret = f.secret(a, "repo-key")
    storage = f.storage(a, "local")
    retention = f.retention(a)
    cluster = f.cluster(a, "es")
    repo = f.repository(a, "repo", storage_obj=storage, secret_obj=secret)
    config = f.configuration(a, "nightly", target=cluster, repositories=[repo], retention_obj=retention)
    done = f.backup_session(config, phase="Succeeded")
    snap = f.snapshot(done, repo, phase="Succeeded", snapshot_id="ab" * 32, size_bytes=2048, total_docs=30,
                      components={"dump": {"logs-1": {"docs": 10, "bytes": 1024, "duration": 0.5, "skipped_unchanged": False, "error": ""},
                                           "users": {"docs": 20, "bytes": 1024, "duration": 0.4, "skipped_unchanged": True, "error": ""}}})
    running = f.backup_session(config, phase="Running")
    f.snapshot(running, repo, phase="Running", progress={"docs": 5, "bytes": 500, "total_docs": 10, "index": "logs-1"})
    restore = f.restore(a, repo, cluster, name="restore-1", phase="Succeeded",
                        components={"load": {"restored-logs-1": {"source": "logs-1", "docs": 10, "failed": 1, "status": "Succeeded",
                                                                 "failures": [{"id": "doc-3", "reason": "mapper_parsing_exception"}], "duration": 1.0, "error": ""}}})
    verifier = f.verifier(a, "weekly-check", repo, cluster)
    snap.verification, snap.verified = "Failed", snap.created
    snap.verification_details = {"error": "index logs-1: 9 documents restored, the snapshot has 10"}
    snap.save()
    b = teams["b"]
    other_storage = f.storage(b, "theirs")
    return {**teams, "verifier": verifier, "secret": secret, "storage": storage, "retention": retention, "cluster": cluster, "repo": repo,
            "config": config, "session": done, "snapshot": snap, "running": running, "restore": restore,
            "other_storage": other_storage}


def client_for(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


@pytest.fixture
def alice(world: dict[str, Any]) -> Client:
    return client_for(world["alice"])


@pytest.fixture
def bob(world: dict[str, Any]) -> Client:
    return client_for(world["bob"])


@pytest.fixture
def charlie(world: dict[str, Any]) -> Client:
    return client_for(world["charlie"])
