"""What a cluster holds, as its page shows it: health, version, nodes, and per index its
documents, size and health; and, when a connection fails, which kind of failure it is.

Engine code (no Django): the dashboard calls it with a short timeout."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from urllib3.exceptions import NewConnectionError, SSLError

from backups.elastic.connection import ClusterError, Connection
from backups.elastic.dialect import UnsupportedCluster
from backups.elastic.metadata import IndexInfo, data_streams, list_indices, select_with_data_streams


@dataclass
class NodeInfo:
    name: str
    version: str
    roles: list[str]
    ip: str


@dataclass
class IndexStats:
    docs: int | None      # None: closed, or the cluster would not say
    bytes: int | None     # store size, replicas included


@dataclass
class ClusterOverview:
    name: str
    uuid: str
    distribution: str
    version: str
    health: str
    nodes: list[NodeInfo]
    indices: list[IndexInfo]
    stats: dict[str, IndexStats]
    streams: dict[str, Any] = field(default_factory=dict)   # metadata.data_streams()
    warnings: list[str] = field(default_factory=list)

    def selected(self, include: Iterable[str], exclude: Iterable[str], include_hidden: bool) -> set[str]:
        """The indices a dump with these patterns reads: the dump's own selection
        (metadata.select_with_data_streams), so the page and the backup cannot disagree."""
        chosen, _ = select_with_data_streams(self.indices, self.streams, include, exclude, include_hidden)
        return {i.name for i in chosen}


def _nodes(conn: Connection) -> list[NodeInfo]:
    doc = conn.json("GET", "/_nodes", params={"filter_path": "nodes.*.name,nodes.*.version,nodes.*.roles,nodes.*.ip"},
                    privilege="monitor (cluster privilege)")
    return sorted((NodeInfo(name=str(n.get("name") or key), version=str(n.get("version") or ""),
                            roles=[str(r) for r in n.get("roles") or []], ip=str(n.get("ip") or ""))
                   for key, n in (doc.get("nodes") or {}).items()), key=lambda n: n.name)


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _stats(conn: Connection) -> dict[str, IndexStats]:
    rows = conn.json("GET", "/_cat/indices", params={"format": "json", "bytes": "b", "expand_wildcards": "all",
                                                     "h": "index,docs.count,store.size"},
                     privilege="monitor on the indices")
    return {r["index"]: IndexStats(_int(r.get("docs.count")), _int(r.get("store.size"))) for r in rows}


def cluster_overview(conn: Connection) -> ClusterOverview:
    """Health, nodes and every index (hidden and closed ones too) with its statistics.

    Statistics and nodes need `monitor`; without it the page still lists the indices,
    with a warning saying what is missing."""
    if conn.dialect is None:
        conn.identify()
    assert conn.dialect is not None
    health = conn.json("GET", "/_cluster/health", privilege="monitor (cluster privilege)")
    warnings: list[str] = []
    try:
        nodes = _nodes(conn)
    except ClusterError as e:
        nodes = []
        warnings.append(f"nodes unknown: {e}")
    try:
        stats = _stats(conn)
    except ClusterError as e:
        stats = {}
        warnings.append(f"index statistics unknown: {e}")
    summary = conn.cluster_summary()
    return ClusterOverview(name=summary["name"], uuid=summary["uuid"], distribution=summary["distribution"],
                           version=summary["version"], health=str(health.get("status") or "unknown"), nodes=nodes,
                           indices=list_indices(conn), stats=stats, streams=data_streams(conn), warnings=warnings)


_DNS_WORDS = ("name or service not known", "nodename nor servname", "temporary failure in name resolution",
              "no address associated", "getaddrinfo failed", "name resolution")


def failure_kind(e: BaseException) -> str:
    """Which part of connecting failed, in a word the person can act on: "DNS", "TLS",
    "authentication", "permissions", "not a search server", "unreachable", "timeout", or
    "error". The exception's own message says the details."""
    text = str(e).lower()
    cause = e.__cause__
    if isinstance(e, (UnsupportedCluster, orjson.JSONDecodeError)):
        return "not a search server"
    if isinstance(e, ClusterError) and e.status:
        if e.status == 401:
            return "authentication"
        if e.status == 403:
            return "permissions"
        if not e.error_type:
            return "not a search server"   # an HTTP server, but no Elasticsearch error body
        return "error"
    if isinstance(cause, NewConnectionError) or text.startswith("cannot reach"):
        return "DNS" if any(w in str(cause or e).lower() for w in _DNS_WORDS) else "unreachable"
    if isinstance(cause, SSLError) or "speaks plain http" in text or text.startswith("tls failure"):
        return "TLS"
    if "timed out" in text:
        return "timeout"
    if "connection failed" in text:
        return "unreachable"
    return "error"


def identify_checked(conn: Connection) -> None:
    """`GET /`, with an answer that is not a search server's said so."""
    try:
        conn.identify()
    except ClusterError as e:
        if e.status and e.status not in (401, 403) and not e.error_type:
            raise UnsupportedCluster(f"{conn.describe()} answered GET / with HTTP {e.status}, not an Elasticsearch or "
                                     "OpenSearch answer: check the URL and port (9200 by default)") from e
        raise
    except orjson.JSONDecodeError as e:
        raise UnsupportedCluster(f"{conn.describe()} answered GET / with something that is not JSON: it is not an "
                                 "Elasticsearch or OpenSearch endpoint; check the URL and port") from e
