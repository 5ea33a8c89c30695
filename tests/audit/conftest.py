from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest


@pytest.fixture
def redis_db(settings: Any) -> Iterator[Any]:
    """The real Redis on the suite's own database (STASHBOARD_TEST_REDIS_DB), emptied before and after."""
    import django_rq

    base = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0").rsplit("/", 1)[0]
    url = f"{base}/{os.environ.get('STASHBOARD_TEST_REDIS_DB', '14')}"
    settings.RQ_QUEUES = {name: {"URL": url, "DEFAULT_TIMEOUT": 600} for name in ("default", "backups", "restores", "maintenance")}
    conn = django_rq.get_connection("default")
    conn.flushdb()
    yield conn
    conn.flushdb()
