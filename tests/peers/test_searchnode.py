"""bin/search-node: each kind answers --help, starts, indexes and searches, and stops on SIGTERM."""
from __future__ import annotations

import signal
import subprocess

import pytest

from .osmem import es
from .searchnode import KINDS, SEARCH_NODE, build, missing_tools, start_search_node

pytestmark = pytest.mark.skipif(missing_tools() is not None, reason=f"bin/search-node: {missing_tools()}")

EXPECTED = {
    # kind: (version.distribution, version.number prefix)
    "opensearch-2": ("opensearch", "2.19."),
    "opensearch-3": ("opensearch", "3."),
    "elasticsearch-8": (None, "8."),
}


@pytest.fixture(scope="module")
def build_errors() -> dict[str, str]:
    """Every launcher is built before any node starts, so a node's start-up is not a build;
    a kind whose build fails fails its own test only."""
    errors = {}
    for kind in KINDS:
        try:
            build(kind)
        except RuntimeError as e:
            errors[kind] = str(e)
    return errors


def test_help_needs_no_build() -> None:
    for args in (["--help"], *([kind, "--help"] for kind in KINDS)):
        proc = subprocess.run([str(SEARCH_NODE), *args], capture_output=True, text=True, timeout=30)
        assert proc.returncode == 0, (args, proc.stderr)
        assert "usage: bin/search-node" in proc.stdout


def test_unknown_kind_is_refused() -> None:
    proc = subprocess.run([str(SEARCH_NODE), "solr-9"], capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert "unknown KIND" in proc.stderr


@pytest.mark.slow
@pytest.mark.parametrize("kind", KINDS)
def test_node_serves_and_stops_on_sigterm(kind: str, build_errors: dict[str, str]) -> None:
    if kind in build_errors:
        pytest.fail(build_errors[kind])
    distribution, number = EXPECTED[kind]
    with start_search_node(kind) as node:
        root = es(node.url, "GET", "/")
        assert root["version"].get("distribution") == distribution, root
        assert root["version"]["number"].startswith(number), root

        es(node.url, "PUT", "/books", {"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
        es(node.url, "PUT", "/books/_doc/1?refresh=true", {"title": "The Left Hand of Darkness"})
        hits = es(node.url, "POST", "/books/_search", {"query": {"match": {"title": "darkness"}}})["hits"]
        assert hits["total"]["value"] == 1, hits
        assert hits["hits"][0]["_id"] == "1"

        node.proc.send_signal(signal.SIGTERM)
        try:
            code = node.proc.wait(30)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{kind} still running 30 s after SIGTERM:\n{node.log_tail()}")
        assert code == 0, node.log_tail()
        assert "Exception" not in node.log_tail(2000).split("stopping ...")[-1], node.log_tail()
