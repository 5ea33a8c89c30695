"""A snapshot of one distribution restored into another, compared document by document
(ids, routing, `_source` byte for byte after whitespace, so integers beyond 2^53 and
2^64 and long decimals keep every digit) with settings, mappings, aliases and templates.
What a target refuses is dropped and said in the restore's result, never silently."""
from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from backups.elastic.connection import ClusterConfig, Connection, connect
from backups.elastic.dump import DumpParams, dump_cluster
from restores.load import LoadParams, creatable_settings, load_snapshot
from storage.backends import open_backend
from storage.repo import Repository
from tests.fixtures.documents import strip_ws, tricky_docs
from tests.fixtures.elastic import Http, read_index
from tests.peers.clusters import SearchCluster, selected_kinds, start_cluster

pytestmark = pytest.mark.slow

PAIRS = [("elasticsearch-8", "opensearch-2"), ("opensearch-2", "elasticsearch-8"),
         ("opensearch-2", "opensearch-3"), ("osmem", "opensearch-2"), ("osmem", "opensearch-3"),
         ("osmem", "elasticsearch-8")]
TEMPLATES = ("index_templates", "component_templates", "legacy_templates")


def _pairs() -> list[Any]:
    kinds = set(selected_kinds())
    chosen = [pytest.param(s, t, id=f"{s}-to-{t}") for s, t in PAIRS if s in kinds and t in kinds]
    return chosen or [pytest.param("none", "none", marks=pytest.mark.skip(reason="needs two search kinds"))]


@pytest.fixture(scope="module")
def pool() -> Iterator[Callable[[str], SearchCluster]]:
    """Servers of any kind, each started once for this module (two run at a time)."""
    started: dict[str, SearchCluster] = {}
    with contextlib.ExitStack() as stack:
        def get(kind: str) -> SearchCluster:
            if kind not in started:
                started[kind] = stack.enter_context(start_cluster(kind))
            return started[kind]

        yield get


def _connect(cluster: SearchCluster) -> Connection:
    return connect(ClusterConfig(urls=[cluster.url], username=cluster.username, password=cluster.password,
                                 ca_bundle=cluster.ca_bundle))


def _seed(http: Http, tag: str) -> dict[str, str]:
    n = {"tricky": f"x{tag}-tricky", "logs": f"x{tag}-logs", "alias": f"x{tag}-errors",
         "write": f"x{tag}-write", "comp": f"x{tag}-comp", "itpl": f"x{tag}-itpl", "legacy": f"x{tag}-legacy"}
    http.create(n["tricky"], shards=3, mappings={"dynamic": False, "properties": {"msg": {"type": "text"}}})
    http.bulk(n["tricky"], tricky_docs())
    http.create(n["logs"], shards=2, settings={"refresh_interval": "7s"}, mappings={"properties": {
        "msg": {"type": "text", "fields": {"raw": {"type": "keyword", "ignore_above": 256}}},
        "level": {"type": "keyword"}, "n": {"type": "long"}, "at": {"type": "date"},
        "price": {"type": "double"}, "tags": {"type": "keyword"}}})
    http.bulk(n["logs"], [(f"log-{i}", b'{"msg":"event %d","level":"%s","n":%d,"at":"2026-11-2%dT10:00:00Z",'
                                       b'"price":%d.25,"tags":["a","b"]}'
                           % (i, b"error" if i % 7 == 0 else b"info", i, i % 9, i), f"r{i % 3}")
                          for i in range(300)])
    http.req("POST", "/_aliases", {"actions": [
        {"add": {"index": n["logs"], "alias": n["alias"], "filter": {"term": {"level": "error"}}, "routing": "r1"}},
        {"add": {"index": n["logs"], "alias": n["write"], "is_write_index": True}}]})
    http.req("PUT", f"/_component_template/{n['comp']}", {"template": {
        "settings": {"number_of_shards": 1}, "mappings": {"properties": {"host": {"type": "keyword"}}}}})
    http.req("PUT", f"/_index_template/{n['itpl']}", {"index_patterns": [f"x{tag}-from-itpl-*"],
                                                      "composed_of": [n["comp"]], "priority": 417,
                                                      "template": {"aliases": {f"x{tag}-all": {}}}})
    http.req("PUT", f"/_template/{n['legacy']}", {"index_patterns": [f"x{tag}-legacy-*"], "order": 3,
                                                  "settings": {"number_of_shards": 1}})
    return n


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _settings(http: Http, index: str) -> dict[str, Any]:
    st = http.req("GET", f"/{index}/_settings")[index]["settings"]["index"]
    return {k: st.get(k) for k in ("number_of_shards", "number_of_replicas", "refresh_interval")}


@pytest.mark.parametrize(("source", "target"), _pairs())
def test_a_snapshot_restores_into_another_distribution(pool, source, target, tmp_path):
    src, dst = pool(source), pool(target)
    hs, hd = Http(src.url, src.username, src.password), Http(dst.url, dst.username, dst.password)
    tag = uuid.uuid4().hex[:8]
    n = _seed(hs, tag)
    cs, cd = _connect(src), _connect(dst)
    repo = Repository.init(open_backend("local", root=str(tmp_path / "repo")), "pw", name="t/cross")
    with repo.writer(meta={"configuration": "cross"}) as w:
        dumped = dump_cluster(cs, w, DumpParams(include=[f"x{tag}-*"], metadata_kinds=TEMPLATES))
        assert dumped.ok, dumped.indices
        w.commit(meta={"cluster": dumped.cluster_meta["cluster"], "cluster_metadata": dumped.cluster_meta,
                       "status": "Succeeded"})
    m = repo.manifest("latest")
    assert m.meta["cluster"]["distribution"] == src.distribution

    res = load_snapshot(cd, m, open_stream=lambda name: repo.read_stream(m, name),
                        params=LoadParams(include=[f"x{tag}-*"], metadata_kinds=TEMPLATES))
    assert res.ok, ({i: e.get("error") for i, e in res.indices.items()}, res.metadata, res.warnings)

    # documents: the same ids, routing and source, every digit kept
    for index in (n["tricky"], n["logs"]):
        want, got = read_index(cs, index), read_index(cd, index)
        assert set(got) == set(want), index
        for _id, (source_bytes, routing) in want.items():
            assert strip_ws(got[_id][0]) == strip_ws(source_bytes), (index, _id)
            assert got[_id][1] == routing, (index, _id)
        assert res.indices[index]["count"] == len(want)
    big = dict(read_index(cd, n["tricky"]))["with space"][0]
    assert b"18446744073709551617" in big and b"3.14159265358979323846264338327950288" in big

    # settings, mappings, aliases; a setting the target refused is named in the warnings
    for index in (n["tricky"], n["logs"]):
        want_s = _flat(creatable_settings(hs.req("GET", f"/{index}/_settings")[index]["settings"])["index"])
        got_s = _flat(hd.req("GET", f"/{index}/_settings")[index]["settings"]["index"])
        for key, value in want_s.items():
            if key not in got_s:
                assert any(f"setting index.{key} dropped" in w for w in res.warnings), (key, res.warnings)
            elif key not in ("number_of_replicas",):
                assert got_s[key] == value, (index, key)
    assert _settings(hd, n["logs"]) == _settings(hs, n["logs"]) == {
        "number_of_shards": "2", "number_of_replicas": "0", "refresh_interval": "7s"}
    assert (hd.req("GET", f"/{n['logs']}/_mapping")[n["logs"]]
            == hs.req("GET", f"/{n['logs']}/_mapping")[n["logs"]])
    assert hd.req("GET", f"/{n['logs']}/_alias") == hs.req("GET", f"/{n['logs']}/_alias")
    # the filtered, routed alias works on the target: its hits are the query's on r1's shard
    direct = hd.req("POST", f"/{n['logs']}/_count?routing=r1", {"query": {"term": {"level": "error"}}})
    assert hd.count(n["alias"]) == direct["count"] > 0

    # templates: what the source holds, the target holds
    for path, name in ((f"/_index_template/{n['itpl']}", "index_templates"),
                       (f"/_component_template/{n['comp']}", "component_templates")):
        key = "index_templates" if name == "index_templates" else "component_templates"
        want_t = hs.req("GET", path)[key][0]
        got_t = hd.req("GET", path)[key][0]
        assert got_t == want_t, name
        assert res.metadata[name][want_t["name"]] == "restored"
    assert hd.req("GET", f"/_template/{n['legacy']}") == hs.req("GET", f"/_template/{n['legacy']}")
    # a new index from the restored template gets the component's mapping and the alias
    made = f"x{tag}-from-itpl-1"
    hd.req("PUT", f"/{made}")
    assert hd.req("GET", f"/{made}/_mapping")[made]["mappings"]["properties"]["host"] == {"type": "keyword"}
    assert f"x{tag}-all" in hd.req("GET", f"/{made}/_alias")[made]["aliases"]

    for h in (hs, hd):
        for index in (n["tricky"], n["logs"], made):
            h.delete(index)
        h.req("DELETE", f"/_index_template/{n['itpl']}", ok=(200, 404))
        h.req("DELETE", f"/_component_template/{n['comp']}", ok=(200, 404))
        h.req("DELETE", f"/_template/{n['legacy']}", ok=(200, 404))
