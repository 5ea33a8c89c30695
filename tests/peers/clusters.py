"""The search servers the suites run against, one pytest parameter each.

KINDs: `osmem` (osmem-server, in memory, fast), the real nodes that `bin/search-node`
starts (`opensearch-2`, `opensearch-3`, `elasticsearch-8`), and `external`: the cluster
named by STASHBOARD_TEST_ES_URL (with STASHBOARD_TEST_ES_USERNAME / _PASSWORD /
_CA_BUNDLE when it needs them).

STASHBOARD_TEST_SEARCH chooses the kinds (comma-separated); by default every local
kind, or only `external` when STASHBOARD_TEST_ES_URL is set.

What each kind supports is declared here, from docs/search-nodes.md, not probed: a test
that asks `cluster.supports("ingest_pipelines")` then checks the real path on servers
that have it and the recorded "unsupported" on the others, so a server that lost a
feature fails the test instead of silently taking the other branch.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field

NODE_KINDS = ("opensearch-2", "opensearch-3", "elasticsearch-8")
LOCAL_KINDS = ("osmem", *NODE_KINDS)
ALL_KINDS = (*LOCAL_KINDS, "external")
# What a test runs on when it is about the app around the engine, not the engine's
# dealings with a server (those run on every kind): one kind, the fast one.
ONE_KIND = "osmem"

# Features a test may depend on, per kind.
#   pit               point in time with search_after on _shard_doc
#   data_streams      index templates with data_stream, PUT _data_stream/NAME
#   ingest_pipelines  PUT _ingest/pipeline with the common processors (set, rename…)
#   lifecycle         ILM (Elasticsearch) or ISM (OpenSearch) policies
#   scripts           painless
#   analysis          the analyzers of analysis-common (stop, pattern, …)
#   seq_no_stats      per-shard max_seq_no that moves on every write (osmem's does not
#                     on an update in place)
FEATURES: dict[str, frozenset[str]] = {
    "osmem": frozenset(),
    "opensearch-2": frozenset({"pit", "data_streams", "ingest_pipelines", "scripts", "analysis",
                               "seq_no_stats"}),
    "opensearch-3": frozenset({"pit", "data_streams", "ingest_pipelines", "scripts", "analysis",
                               "seq_no_stats"}),
    "elasticsearch-8": frozenset({"pit", "seq_no_stats"}),
}


@dataclass
class SearchCluster:
    kind: str
    url: str
    username: str = ""
    password: str = ""
    ca_bundle: str = ""
    features: frozenset[str] = field(default_factory=frozenset)

    def supports(self, feature: str) -> bool:
        return feature in self.features

    @property
    def is_real(self) -> bool:
        return self.kind != "osmem"

    @property
    def distribution(self) -> str:
        return "elasticsearch" if self.kind.startswith("elasticsearch") else "opensearch"


def external_features() -> frozenset[str]:
    """What the external cluster has, as STASHBOARD_TEST_ES_FEATURES lists it."""
    listed = os.environ.get("STASHBOARD_TEST_ES_FEATURES", "")
    return frozenset(f.strip() for f in listed.split(",") if f.strip())


def external_credentials(url: str) -> tuple[str, str, str] | None:
    """(username, password, CA bundle path) when `url` is the external cluster's and it
    needs credentials or a CA: helpers and factories that only get a URL use them."""
    external = os.environ.get("STASHBOARD_TEST_ES_URL", "").rstrip("/")
    if not external or not url.rstrip("/").startswith(external):
        return None
    creds = (os.environ.get("STASHBOARD_TEST_ES_USERNAME", ""), os.environ.get("STASHBOARD_TEST_ES_PASSWORD", ""),
             os.environ.get("STASHBOARD_TEST_ES_CA_BUNDLE", ""))
    return creds if any(creds) else None


def kind_features(kind: str) -> frozenset[str]:
    return external_features() if kind == "external" else FEATURES.get(kind, frozenset())


def selected_kinds() -> list[str]:
    chosen = os.environ.get("STASHBOARD_TEST_SEARCH", "").strip()
    if not chosen:
        return ["external"] if os.environ.get("STASHBOARD_TEST_ES_URL") else list(LOCAL_KINDS)
    kinds = [k.strip() for k in chosen.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in (*LOCAL_KINDS, "external")]
    if unknown:
        raise RuntimeError(f"STASHBOARD_TEST_SEARCH: unknown kind(s) {unknown}: choose among "
                           f"{', '.join((*LOCAL_KINDS, 'external'))}")
    return kinds


@contextlib.contextmanager
def start_cluster(kind: str) -> Iterator[SearchCluster]:
    """Start a fresh server of this kind (or name the external one) for as long as the
    block runs."""
    if kind == "external":
        url = os.environ.get("STASHBOARD_TEST_ES_URL", "").rstrip("/")
        if not url:
            raise RuntimeError("kind 'external' needs STASHBOARD_TEST_ES_URL")
        yield SearchCluster("external", url, os.environ.get("STASHBOARD_TEST_ES_USERNAME", ""),
                            os.environ.get("STASHBOARD_TEST_ES_PASSWORD", ""),
                            os.environ.get("STASHBOARD_TEST_ES_CA_BUNDLE", ""), external_features())
        return
    if kind == "osmem":
        from tests.peers.osmem import start_osmem

        with start_osmem() as server:
            yield SearchCluster(kind, server.url, features=FEATURES[kind])
        return
    from tests.peers.searchnode import start_search_node

    with start_search_node(kind) as node:
        yield SearchCluster(kind, node.url, features=FEATURES[kind])
