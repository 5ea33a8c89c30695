"""Fixtures for the Elasticsearch engine tests: the server of each search kind
(tests.peers.clusters: osmem-server, real OpenSearch and Elasticsearch nodes, or the
cluster named by STASHBOARD_TEST_ES_URL), raw HTTP helpers, a fault-injecting proxy and
the real repository on a local directory."""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import quote

import orjson
import pytest
import urllib3

from backups.elastic.connection import ClusterConfig, Connection, connect
from storage.backends import open_backend
from storage.repo import Repository
from tests.elastic.memrepo import MemRepo
from tests.peers.clusters import SearchCluster
from tests.peers.osmem import free_port


@pytest.fixture(scope="session")
def cluster_url(search: SearchCluster) -> str:
    return search.url


class Http:
    """Plain HTTP to the test cluster, for setting up and checking data."""

    def __init__(self, url: str, username: str = "", password: str = "", ca_bundle: str = "") -> None:
        self.url = url
        self.auth = urllib3.make_headers(basic_auth=f"{username}:{password}") if username else {}
        self.pool = urllib3.PoolManager(retries=False, timeout=urllib3.Timeout(connect=5, read=120),
                                        ca_certs=ca_bundle or None)

    def req(self, method: str, path: str, body: Any = None, raw: bytes | None = None,
            ok: tuple[int, ...] = (200, 201), ctype: str = "application/json") -> Any:
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        headers = {**self.auth, **({"Content-Type": ctype} if data is not None else {})}
        r = self.pool.request(method, self.url + path, body=data, headers=headers)
        if r.status not in ok:
            raise AssertionError(f"{method} {path}: HTTP {r.status}: {r.data[:800]!r}")
        return orjson.loads(r.data) if r.data else {}

    def create(self, index: str, shards: int = 1, mappings: Any = None, settings: Any = None) -> None:
        body: dict[str, Any] = {"settings": {"number_of_shards": shards, "number_of_replicas": 0,
                                             **(settings or {})}}
        if mappings is not None:
            body["mappings"] = mappings
        self.req("PUT", f"/{index}", body)

    def bulk(self, index: str, docs: list[tuple[str, bytes, str | None]]) -> None:
        """docs: (id, raw source bytes, routing)"""
        parts = []
        for _id, src, routing in docs:
            if b"\n" in src:  # a pretty-printed source cannot go through _bulk
                q = f"?refresh=true&routing={quote(routing)}" if routing else "?refresh=true"
                self.req("PUT", f"/{index}/_doc/{quote(_id, safe='')}{q}", raw=src)
                continue
            action: dict[str, Any] = {"_id": _id}
            if routing:
                action["routing"] = routing
            parts.append(orjson.dumps({"index": action}) + b"\n" + src + b"\n")
        if not parts:
            return
        res = self.req("POST", f"/{index}/_bulk?refresh=true", raw=b"".join(parts), ctype="application/x-ndjson")
        assert not res.get("errors"), str(res)[:1500]

    def count(self, index: str) -> int:
        self.req("POST", f"/{index}/_refresh")
        return int(self.req("GET", f"/{index}/_count")["count"])

    def delete(self, index: str) -> None:
        self.req("DELETE", f"/{index}", ok=(200, 404))


@pytest.fixture(scope="session")
def http(search: SearchCluster) -> Http:
    return Http(search.url, search.username, search.password, search.ca_bundle)


def cluster_config(search: SearchCluster, **kw: Any) -> ClusterConfig:
    """How the product connects to the test cluster (credentials and CA included)."""
    return ClusterConfig(urls=[search.url], username=search.username, password=search.password,
                         ca_bundle=search.ca_bundle, **kw)


@pytest.fixture
def conn(search: SearchCluster) -> Iterator[Connection]:
    c = connect(cluster_config(search, backoff_base=0.01, backoff_max=0.2))
    yield c
    c.close()


@pytest.fixture
def names(http: Http) -> Iterator[Callable[[str], str]]:
    """Unique index names per test (the suite may run against a shared cluster); the
    indices are deleted afterwards."""
    made: list[str] = []
    tag = uuid.uuid4().hex[:8]

    def make(base: str) -> str:
        n = f"t{tag}-{base}"
        made.append(n)
        return n

    yield make
    # by name: Elasticsearch 8 refuses wildcard deletes (action.destructive_requires_name)
    streams = http.req("GET", f"/_data_stream/*{tag}*", ok=(200, 404, 405)).get("data_streams", [])  # 405: none
    for stream in streams:
        http.req("DELETE", f"/_data_stream/{stream['name']}", ok=(200, 404))
    for n in made:  # in order: an index goes before a name that was its alias
        http.delete(n)
    left = http.req("GET", f"/_cat/indices/*{tag}*?format=json&expand_wildcards=all", ok=(200, 404))
    for row in left if isinstance(left, list) else []:
        http.delete(row["index"])


@pytest.fixture
def repo(tmp_path: Any) -> Repository:
    """The real repository on a local directory."""
    backend = open_backend("local", root=str(tmp_path / "repo"))
    return Repository.init(backend, "test-password", name="team/elastic-tests")


# -- fault-injecting proxy ------------------------------------------------------------
Rule = Callable[[str, str, bytes], "tuple[int, bytes] | None"]
Transform = Callable[[str, str, bytes], bytes]


class FaultProxy:
    """Forwards to the cluster; `rule` may answer instead, `transform` may alter answers."""

    def __init__(self, upstream: str, auth: dict[str, str] | None = None, ca_bundle: str = "") -> None:
        self.upstream = upstream
        self.rule: Rule | None = None
        self.transform: Transform | None = None
        self.requests: list[tuple[str, str]] = []
        pool = urllib3.PoolManager(maxsize=16, retries=False, ca_certs=ca_bundle or None)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def _do(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                proxy.requests.append((self.command, self.path))
                answer = proxy.rule(self.command, self.path, body) if proxy.rule else None
                ctype = "application/json"
                if answer is None:
                    headers = {**(auth or {}), **{k: v for k, v in self.headers.items()
                                                  if k.lower() in ("content-type", "accept", "authorization")}}
                    r = pool.request(self.command, proxy.upstream + self.path, body=body or None, headers=headers)
                    if r.status == 400 and r.data.startswith(b"400 Bad Request"):
                        # Go's own answer to bytes it could not parse as a request: seen
                        # (rarely) on a pooled keep-alive connection between this relay and
                        # the server. Not the client under test: send it once more.
                        r = pool.request(self.command, proxy.upstream + self.path, body=body or None,
                                         headers=headers)
                    status, data = r.status, r.data
                    if proxy.transform:
                        data = proxy.transform(self.command, self.path, data)
                else:
                    status, data = answer
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _do

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(search: SearchCluster, http: Http) -> Iterator[FaultProxy]:
    """In front of the test cluster; it adds the cluster's credentials, if any."""
    p = FaultProxy(search.url, http.auth, search.ca_bundle)
    yield p
    p.close()


def read_index(conn: Connection, index: str) -> dict[str, tuple[bytes, str | None]]:
    """{_id: (raw _source bytes, routing)} of an index, through our own dump reader."""
    from backups.elastic.dump import DumpParams, dump_cluster

    mem = MemRepo()
    w = mem.writer()
    res = dump_cluster(conn, w, DumpParams(include=[index], metadata_kinds=(), skip_unchanged=False,
                                           batch_size=500))
    assert res.ok, res.indices
    w.commit()
    latest = mem.latest()
    assert latest is not None
    return parse_stream(b"".join(mem.read_stream(latest, f"indices/{index}")))


def parse_stream(blob: bytes) -> dict[str, tuple[bytes, str | None]]:
    from restores.load import _LINE

    out: dict[str, tuple[bytes, str | None]] = {}
    for line in blob.split(b"\n"):
        if not line:
            continue
        m = _LINE.match(line)
        assert m, line[:200]
        _id = orjson.loads(m.group(1))
        assert _id not in out, f"duplicate id {_id!r}"
        out[_id] = (line[m.end():-1], orjson.loads(m.group(2)) if m.group(2) else None)
    return out
