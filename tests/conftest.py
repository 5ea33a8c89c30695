from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests import factories as f
from tests.peers.clusters import SearchCluster, kind_features, selected_kinds, start_cluster


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


@pytest.fixture(scope="session")
def search(request: Any) -> Iterator[SearchCluster]:
    with start_cluster(request.param) as cluster:
        yield cluster
