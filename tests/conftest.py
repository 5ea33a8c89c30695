from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories as f
from tests.fixtures.live import redis_url, use_queues, worker_redis_db
from tests.peers.clusters import NODE_KINDS, SearchCluster, kind_features, selected_kinds, start_cluster

# Fixtures shared across test folders (the engine's and the flows'), one place each.
pytest_plugins = ["tests.fixtures.elastic", "tests.fixtures.flows", "tests.fixtures.live"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def teams(db: Any) -> dict[str, Any]:
    """alice owns team A, bob views team A, charlie owns team B (STYLE.md)."""
    a = f.team("team-a", name="Team A")
    b = f.team("team-b", name="Team B")
    return {
        "a": a,
        "b": b,
        "alice": f.user("alice", a, "owner"),
        "bob": f.user("bob", a, "viewer"),
        "charlie": f.user("charlie", b, "owner"),
    }


@pytest.fixture
def queues(settings: Any) -> Iterator[Any]:
    """The real Redis, on a database of its own, emptied before and after
    (STASHBOARD_TEST_REDIS_DB moves it when two test runs share one Redis); yields its
    connection. Saving and triggering enqueue jobs on commit; tests run them with
    tests.fixtures.flows.work or the job functions."""
    yield from use_queues(settings, redis_url(worker_redis_db("STASHBOARD_TEST_REDIS_DB", 14)))


# -- the search servers ----------------------------------------------------------------
# Every test that asks for `search` runs once per kind of tests.peers.clusters (osmem and
# the real nodes), each server started once per test session; pytest groups the tests by
# kind, so one server runs at a time. `@pytest.mark.search_kinds("osmem")` narrows a
# test to the kinds it is about, `@pytest.mark.search_features("data_streams")` to the
# kinds that declare these features (tests.peers.clusters.FEATURES).

def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "search_kinds(*kinds): run only against these search kinds")
    config.addinivalue_line("markers", "search_features(*features): run only against kinds that have them")


def pytest_generate_tests(metafunc: Any) -> None:
    if "search" not in metafunc.fixturenames:
        return
    kinds = selected_kinds()
    wanted = metafunc.definition.get_closest_marker("search_kinds")
    if wanted is not None:
        kinds = [k for k in kinds if k in wanted.args]
    needs = metafunc.definition.get_closest_marker("search_features")
    if needs is not None:
        kinds = [k for k in kinds if set(needs.args) <= kind_features(k)]
    params: list[Any] = list(kinds)
    if not params:
        why = f"kinds {wanted.args}" if wanted else f"features {needs.args if needs else ()}"
        params = [pytest.param("none", marks=pytest.mark.skip(reason=f"needs search {why}: none selected"))]
    metafunc.parametrize("search", params, indirect=True, scope="session")


def pytest_collection_modifyitems(config: Any, items: list[Any]) -> None:
    """Under pytest-xdist (bin/test: `-n 2 --dist loadgroup`) the tests of one real node
    kind all go to one worker, so each JVM starts once in the run and two never run per
    worker; the cross-distribution module, which starts its own pairs, goes whole to one."""
    for item in items:
        kind = getattr(getattr(item, "callspec", None), "params", {}).get("search")
        if kind in NODE_KINDS:
            item.add_marker(pytest.mark.xdist_group(kind))
        elif item.module.__name__.endswith("test_cross_distribution"):
            item.add_marker(pytest.mark.xdist_group("cross-distribution"))


@pytest.fixture(scope="session")
def search(request: Any) -> Iterator[SearchCluster]:
    with start_cluster(request.param) as cluster:
        yield cluster
