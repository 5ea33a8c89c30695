from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import django_rq
import pytest
from rq import SimpleWorker

from tests import factories as f
from tests.peers.clusters import SearchCluster
from tests.peers.osmem import start_osmem


@pytest.fixture(scope="session")
def es_url(search: SearchCluster) -> str:
    """The cluster of this run's search kind (tests.peers.clusters)."""
    return search.url


@pytest.fixture(scope="session")
def es_url2(search: SearchCluster) -> Iterator[str]:
    """A second, empty cluster to restore into: an osmem-server of its own for each
    search kind (so each kind's run finds it empty)."""
    with start_osmem() as server:
        yield server.url


@pytest.fixture
def queues(settings: Any) -> Iterator[None]:
    """The real Redis, on a database of its own, emptied before and after
    (STASHBOARD_TEST_REDIS_DB moves it when two test runs share one Redis)."""
    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    url = f"{base}/{os.environ.get('STASHBOARD_TEST_REDIS_DB', '14')}"
    settings.RQ_QUEUES = {name: {"URL": url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups", "restores", "maintenance")}
    django_rq.queues.get_redis_connection.cache_clear() if hasattr(django_rq.queues.get_redis_connection, "cache_clear") else None
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield
    conn.flushdb()


def work() -> None:
    """Run every queued job in this process (SimpleWorker: no fork, real Redis)."""
    queues = [django_rq.get_queue(n) for n in ("maintenance", "backups", "restores", "default")]
    SimpleWorker(queues, connection=queues[0].connection).work(burst=True)


@pytest.fixture
def local_root(settings: Any, tmp_path: Any) -> Any:
    settings.LOCAL_STORAGE_ROOT = tmp_path / "storage"
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path / "storage"]
    (tmp_path / "storage").mkdir()
    return tmp_path / "storage"


@pytest.fixture
def world(transactional_db: Any, queues: Any, local_root: Any, es_url: str) -> dict[str, Any]:
    team = f.team("team-a")
    storage = f.storage(team, "local", mount_path=str(local_root / "team-a"))
    secret = f.secret(team, "repo-key", {"RESTIC_PASSWORD": "pw-for-tests"})
    cluster = f.cluster(team, "es", url=es_url)
    repo = f.repository(team, "repo", storage_obj=storage, secret_obj=secret)
    return {"team": team, "storage": storage, "secret": secret, "cluster": cluster, "repo": repo}
