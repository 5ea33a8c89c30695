from __future__ import annotations

import orjson
import pytest

from backups.elastic.connection import (
    ClusterConfig,
    ClusterError,
    IndexNotFound,
    connect,
)
from backups.elastic.dialect import Dialect, UnsupportedCluster
from backups.elastic.dump import DumpParams, dump_cluster
from tests.fixtures.memrepo import MemRepo
from tests.peers.clusters import LOCAL_KINDS, ONE_KIND
from tests.peers.osmem import free_port

# These take the test cluster's plain-HTTP URL apart (scheme, port, a TLS relay in front):
# the local kinds only, not an external cluster with its own TLS and credentials.
local_only = pytest.mark.search_kinds(*LOCAL_KINDS)


def info(dist: str | None, number: str) -> dict:
    v = {"number": number}
    if dist:
        v["distribution"] = dist
    return {"version": v, "tagline": "You Know, for Search"}


def test_it_identifies_the_cluster_from_get_root(conn):
    assert conn.dialect is not None
    assert conn.distribution in ("opensearch", "elasticsearch")
    assert conn.version.count(".") == 2
    assert conn.cluster_summary()["distribution"] == conn.distribution


@pytest.mark.parametrize("dist,number,pit_path,mode,lifecycle", [
    (None, "7.10.2", "/i/_pit", "scroll", "ilm_policies"),       # PIT without _shard_doc: scroll
    (None, "7.17.25", "/i/_pit", "pit", "ilm_policies"),
    (None, "8.15.0", "/i/_pit", "pit", "ilm_policies"),
    (None, "9.1.0", "/i/_pit", "pit", "ilm_policies"),
    ("opensearch", "1.3.19", "/i/_search/point_in_time", "scroll", "ism_policies"),
    ("opensearch", "2.19.1", "/i/_search/point_in_time", "scroll", "ism_policies"),
    ("opensearch", "3.8.0", "/i/_search/point_in_time", "scroll", "ism_policies"),
])
def test_the_dialect_follows_distribution_and_version(dist, number, pit_path, mode, lifecycle):
    d = Dialect.from_info(info(dist, number))
    assert d.pit_open_path("/i") == pit_path
    assert d.default_read_mode == mode
    assert d.lifecycle_kind == lifecycle
    assert d.supports_pit == (not (dist == "opensearch" and number.startswith("1.")) and number != "7.10.2")
    method, _path, body = d.pit_close("abc")
    assert method == "DELETE" and ("pit_id" in body if dist else body == {"id": "abc"})


def test_old_elasticsearch_is_refused_with_the_reason():
    with pytest.raises(UnsupportedCluster, match="7.10 or newer"):
        Dialect.from_info(info(None, "6.8.23"))


@local_only
def test_plain_json_is_what_we_send_and_the_official_client_is_refused(cluster_url, conn, http, names):
    # why the connection drives transport nodes itself: the official client's
    # compatibility media type is refused by OpenSearch-compatible servers
    from elasticsearch import Elasticsearch

    idx = names("mediatype")
    http.create(idx)
    if conn.distribution == "opensearch":
        with pytest.raises(Exception) as e:
            Elasticsearch(cluster_url).search(index=idx, query={"match_all": {}})
        assert "406" in str(e.value) or "not supported" in str(e.value).lower()
    r = conn.json("POST", f"/{idx}/_search", {"query": {"match_all": {}}})
    assert "hits" in r


def test_an_unreachable_host_says_so():
    with pytest.raises(ClusterError, match="cannot reach") as e:
        connect(ClusterConfig(urls=[f"http://127.0.0.1:{free_port()}"], max_retries=1, backoff_base=0.01))
    assert not e.value.permanent


@pytest.mark.search_kinds(ONE_KIND)  # our client alone: the server only answers
def test_https_to_a_plain_http_port_says_to_write_http(cluster_url):
    https = cluster_url.replace("http://", "https://")
    with pytest.raises(ClusterError) as e:
        connect(ClusterConfig(urls=[https], max_retries=0))
    assert f"{https} speaks plain HTTP, not TLS: write the URL as {cluster_url}" in str(e.value)
    assert "CA bundle" not in str(e.value)


@pytest.mark.search_kinds(ONE_KIND)  # our client alone: the server only answers
def test_a_second_url_is_used_when_the_first_is_down(cluster_url):
    c = connect(ClusterConfig(urls=[f"http://127.0.0.1:{free_port()}", cluster_url], max_retries=3,
                              backoff_base=0.01))
    assert c.dialect is not None


@pytest.mark.search_kinds(ONE_KIND)  # our client alone: the server only answers
def test_401_names_the_user(proxy):
    proxy.rule = lambda m, p, b: (401, orjson.dumps({"error": {"root_cause": [{"type": "security_exception",
                                  "reason": "unable to authenticate user [bob]"}], "type": "security_exception"},
                                  "status": 401}))
    with pytest.raises(ClusterError, match="authentication failed.*'bob'.*username/password"):
        connect(ClusterConfig(urls=[proxy.url], username="bob", password="wrong"))


def test_403_names_the_missing_privilege(proxy, http, names):
    idx = names("forbidden")
    http.create(idx)
    http.bulk(idx, [("a", b'{"n":1}', None)])
    reason = (f"action [indices:data/read/search] is unauthorized for user [bob] with roles [r] on indices "
              f"[{idx}], this action is granted by the index privileges [read,all]")

    def rule(method, path, body):
        if "_search" in path:
            return 403, orjson.dumps({"error": {"root_cause": [{"type": "security_exception", "reason": reason}],
                                                "type": "security_exception"}, "status": 403})
        return None

    proxy.rule = rule
    c = connect(ClusterConfig(urls=[proxy.url], username="bob", password="pw"))
    res = dump_cluster(c, MemRepo().writer(), DumpParams(include=[idx], metadata_kinds=()))
    assert not res.ok
    err = res.indices[idx]["error"]
    assert "403" in err and "index privileges [read,all]" in err and f"read on index {idx}" in err


def test_index_not_found_is_its_own_error(conn):
    with pytest.raises(IndexNotFound, match="no-such-index.*not found"):
        conn.request("GET", "/no-such-index/_settings", index="no-such-index")


@pytest.mark.parametrize("listing", ["cluster state", "_cat fallback"])
def test_a_red_index_fails_with_what_to_do(proxy, http, names, listing):
    idx = names("red")
    http.create(idx)

    def red(method, path, data):
        if path.startswith("/_cluster/health"):
            doc = orjson.loads(data)
            doc["indices"][idx]["status"] = "red"
            return orjson.dumps(doc)
        if path.startswith("/_cat/indices"):
            rows = orjson.loads(data)
            for r in rows:
                if r["index"] == idx:
                    r["health"] = "red"
            return orjson.dumps(rows)
        return data

    if listing == "_cat fallback":
        # a user who may not read the cluster state: the listing falls back to _cat/indices
        proxy.rule = lambda method, path, body: (403, b'{"error":{"type":"security_exception"},"status":403}') \
            if path.startswith("/_cluster/state") else None
    proxy.transform = red
    c = connect(ClusterConfig(urls=[proxy.url]))
    res = dump_cluster(c, MemRepo().writer(), DumpParams(include=[idx], metadata_kinds=()))
    assert not res.ok and "is red" in res.indices[idx]["error"] and "allocation/explain" in res.indices[idx]["error"]
    assert any(p.startswith("/_cat/indices") for _, p in proxy.requests) == (listing == "_cat fallback")


@pytest.mark.search_kinds(ONE_KIND)  # our client alone: the server only answers
def test_api_key_and_basic_auth_headers(cluster_url):
    from backups.elastic.connection import Connection

    c = Connection(ClusterConfig(urls=[cluster_url], api_key="id:secret"))
    assert c.headers["authorization"] == "ApiKey aWQ6c2VjcmV0"
    c = Connection(ClusterConfig(urls=[cluster_url], username="u", password="p"))
    assert c.headers["authorization"] == "Basic dTpw"
    with pytest.raises(ClusterError, match="not http"):
        Connection(ClusterConfig(urls=["ftp://x"]))


@local_only
def test_tls_with_the_clusters_ca_bundle_and_the_errors_without_it(cluster_url, http, names):
    from tests.peers.tlsproxy import tls_proxy

    idx = names("tls")
    http.create(idx)
    http.bulk(idx, [("a", b'{"v":"\xc3\xa9"}', None)])
    with tls_proxy(cluster_url) as tls:
        # the CA as a file, as PEM text from a secret, and verification off (asked for)
        for cfg in (ClusterConfig(urls=[tls.url], ca_bundle=tls.ca_path),
                    ClusterConfig(urls=[tls.url], ca_data=tls.ca_pem),
                    ClusterConfig(urls=[tls.url], verify_tls=False)):
            c = connect(cfg)
            mem = MemRepo()
            w = mem.writer()
            assert dump_cluster(c, w, DumpParams(include=[idx], metadata_kinds=())).ok
            w.commit()
            assert b'"_id":"a"' in b"".join(mem.read_stream(mem.latest(), f"indices/{idx}"))
        # a CA the system does not know: refused, with what to do, and never retried as if
        # the network were at fault
        with pytest.raises(ClusterError, match=r"TLS failure talking to https://localhost:\d+.*"
                                               r"CA bundle") as err:
            connect(ClusterConfig(urls=[tls.url], max_retries=1, backoff_base=0.01))
        assert "CERTIFICATE_VERIFY_FAILED" in str(err.value)
        # the certificate names localhost only: the same server by its address is refused
        other = tls.url.replace("localhost", "127.0.0.1")
        with pytest.raises(ClusterError, match="TLS failure"):
            connect(ClusterConfig(urls=[other], ca_bundle=tls.ca_path, max_retries=1, backoff_base=0.01))
