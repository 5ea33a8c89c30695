"""What a bin/search-node kind supports: starts a node of each kind given and prints one
line per feature, `ok` or the error the node gave. docs/search-nodes.md is written from it.

    .venv/bin/python search-node/probe.py opensearch-2 elasticsearch-8
"""
from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.peers.searchnode import KINDS, build, start_search_node


class Refused(Exception):
    pass


def call(url: str, method: str, path: str, body: Any = None, ndjson: str | None = None) -> Any:
    data = ndjson.encode() if ndjson is not None else (json.dumps(body).encode() if body is not None else None)
    ctype = "application/x-ndjson" if ndjson is not None else "application/json"
    req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": ctype})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            err = json.loads(raw)
            err = err.get("error", err)
            if isinstance(err, dict):
                # "all shards failed" says little: the shard's own reason is the first root cause
                cause = (err.get("root_cause") or [err])[0]
                err = f"{cause.get('type')}: {cause.get('reason')}"
        except ValueError:
            err = raw[:200].decode(errors="replace")
        raise Refused(f"{method} {path} -> {e.code} {err}") from None
    return json.loads(raw) if raw else {}


def seed(url: str) -> None:
    call(url, "PUT", "/probe", {"settings": {"number_of_shards": 2, "number_of_replicas": 0},
                                "mappings": {"properties": {"n": {"type": "long"}, "msg": {"type": "text"}}}})
    lines = "".join(json.dumps({"index": {"_id": str(i)}}) + "\n" + json.dumps({"n": i, "msg": f"message {i}"}) + "\n"
                    for i in range(20))
    call(url, "POST", "/probe/_bulk?refresh=true", ndjson=lines)


def pit_opensearch(url: str) -> str:
    pit = call(url, "POST", "/probe/_search/point_in_time?keep_alive=1m")["pit_id"]
    r = call(url, "POST", "/_search", {"pit": {"id": pit, "keep_alive": "1m"}, "size": 100})
    call(url, "DELETE", "/_search/point_in_time", {"pit_id": [pit]})
    return f"{len(r['hits']['hits'])} hits"


def pit_elasticsearch(url: str) -> str:
    pit = call(url, "POST", "/probe/_pit?keep_alive=1m")["id"]
    r = call(url, "POST", "/_search", {"pit": {"id": pit, "keep_alive": "1m"}, "size": 100})
    call(url, "DELETE", "/_pit", {"id": pit})
    return f"{len(r['hits']['hits'])} hits"


def sliced_scroll(url: str) -> str:
    total = 0
    for i in range(2):
        r = call(url, "POST", "/probe/_search?scroll=1m", {"slice": {"id": i, "max": 2}, "size": 100})
        total += len(r["hits"]["hits"])
        call(url, "DELETE", "/_search/scroll", {"scroll_id": [r["_scroll_id"]]})
    assert total == 20, total
    return "2 slices, 20 docs"


def data_stream_api(url: str) -> str:
    call(url, "PUT", "/_index_template/probe-ds", {"index_patterns": ["probe-ds*"], "data_stream": {}, "priority": 500})
    call(url, "PUT", "/_data_stream/probe-ds")
    call(url, "POST", "/probe-ds/_doc?refresh=true", {"@timestamp": "2024-01-01T00:00:00Z", "m": 1})
    ds = call(url, "GET", "/_data_stream/probe-ds")["data_streams"][0]
    return f"backing {ds['indices'][0]['index_name']}"


def data_stream_by_indexing(url: str) -> str:
    call(url, "PUT", "/_index_template/probe-auto", {"index_patterns": ["probe-auto*"], "data_stream": {}, "priority": 500})
    call(url, "POST", "/probe-auto/_doc?refresh=true", {"@timestamp": "2024-01-01T00:00:00Z", "m": 1})
    r = call(url, "GET", "/_resolve/index/probe-auto")
    assert r.get("data_streams"), r
    return f"resolves to {r['data_streams'][0]['backing_indices']}"


def ingest_pipeline(url: str) -> str:
    call(url, "PUT", "/_ingest/pipeline/p", {"processors": [{"set": {"field": "tag", "value": "set"}}]})
    call(url, "PUT", "/probe/_doc/p1?pipeline=p&refresh=true", {"n": 100})
    src = call(url, "GET", "/probe/_doc/p1")["_source"]
    assert src.get("tag") == "set", src
    return "set processor applied"


def painless(url: str) -> str:
    r = call(url, "POST", "/probe/_search", {"size": 1, "query": {"term": {"n": 3}},
                                             "script_fields": {"twice": {"script": {"lang": "painless",
                                                                                    "source": "doc['n'].value * 2"}}}})
    assert r["hits"]["hits"][0]["fields"]["twice"] == [6], r
    call(url, "POST", "/probe/_update/3?refresh=true", {"script": {"source": "ctx._source.n += 1000"}})
    return "script_fields and _update script"


def analyzer(name: str) -> Callable[[str], str]:
    def check(url: str) -> str:
        r = call(url, "POST", "/_analyze", {"analyzer": name, "text": "The Quick-Brown Foxes"})
        return " ".join(t["token"] for t in r["tokens"])
    return check


def filter_check(name: str) -> Callable[[str], str]:
    def check(url: str) -> str:
        r = call(url, "POST", "/_analyze", {"tokenizer": "standard", "filter": [name], "text": "Crème Brûlée"})
        return " ".join(t["token"] for t in r["tokens"])
    return check


def seq_no_range(url: str) -> str:
    r = call(url, "POST", "/probe/_search", {"query": {"range": {"_seq_no": {"gte": 0}}}, "size": 100,
                                             "seq_no_primary_term": True, "sort": [{"_seq_no": "asc"}]})
    assert r["hits"]["total"]["value"] >= 20, r["hits"]["total"]
    assert "_seq_no" in r["hits"]["hits"][0]
    return f"{r['hits']['total']['value']} hits, sorted by _seq_no"


def ism(url: str) -> str:
    return json.dumps(call(url, "GET", "/_plugins/_ism/policies"))[:80]


def reindex(url: str) -> str:
    r = call(url, "POST", "/_reindex?refresh=true", {"source": {"index": "probe"}, "dest": {"index": "probe-copy"}})
    return f"{r['created']} created"


def delete_by_query(url: str) -> str:
    r = call(url, "POST", "/probe-copy/_delete_by_query?refresh=true", {"query": {"match_all": {}}})
    return f"{r['deleted']} deleted"


def snapshot_fs(url: str) -> str:
    call(url, "PUT", "/_snapshot/fsrepo", {"type": "fs", "settings": {"location": "fsrepo"}})
    r = call(url, "PUT", "/_snapshot/fsrepo/s1?wait_for_completion=true", {"indices": "probe"})
    return r["snapshot"]["state"]


def scaled_float(url: str) -> str:
    call(url, "PUT", "/probe-sf", {"mappings": {"properties": {"p": {"type": "scaled_float", "scaling_factor": 100}}}})
    return "mapping accepted"


def join_field(url: str) -> str:
    call(url, "PUT", "/probe-join", {"mappings": {"properties": {"j": {"type": "join", "relations": {"q": "a"}}}}})
    return "mapping accepted"


def geo_shape(url: str) -> str:
    call(url, "PUT", "/probe-geo", {"mappings": {"properties": {"s": {"type": "geo_shape"}}}})
    call(url, "PUT", "/probe-geo/_doc/1?refresh=true",
         {"s": {"type": "polygon", "coordinates": [[[0, 0], [0, 10], [10, 10], [10, 0], [0, 0]]]}})
    r = call(url, "POST", "/probe-geo/_search", {"query": {"geo_shape": {"s": {"shape": {"type": "point", "coordinates": [5, 5]}}}}})
    return f"polygon indexed, {r['hits']['total']['value']} hit"


def mapping_type(name: str, **params: Any) -> Callable[[str], str]:
    def check(url: str) -> str:
        index = "probe-type-" + name.replace("_", "-")
        call(url, "PUT", f"/{index}", {"mappings": {"properties": {"f": {"type": name, **params}}}})
        return "mapping accepted"
    return check


def update_by_query(url: str) -> str:
    r = call(url, "POST", "/probe/_update_by_query?refresh=true", {"query": {"term": {"n": 1}}})
    return f"{r['updated']} updated"


def server_basics(url: str) -> str:
    call(url, "PUT", "/_component_template/probe-ct", {"template": {"settings": {"number_of_replicas": 0}}})
    call(url, "POST", "/_aliases", {"actions": [{"add": {"index": "probe", "alias": "probe-alias"}}]})
    docs = call(url, "POST", "/probe-alias/_mget", {"ids": ["1", "2"]})["docs"]
    found = call(url, "POST", "/_msearch", ndjson='{"index":"probe"}\n{"size":0}\n')["responses"][0]["hits"]["total"]
    count = call(url, "GET", "/probe/_count")["count"]
    assert len(docs) == 2 and found["value"] == count, (docs, found, count)
    return "component template, alias, _mget, _msearch, _count"


def x_pack(url: str) -> str:
    return json.dumps(call(url, "GET", "/_license"))[:80]


def search_template(url: str) -> str:
    r = call(url, "POST", "/probe/_search/template", {"source": {"query": {"term": {"n": "{{v}}"}}}, "params": {"v": 5}})
    return f"{r['hits']['total']['value']} hit"


def composite_agg(url: str) -> str:
    r = call(url, "POST", "/probe/_search", {"size": 0, "aggs": {"c": {"composite": {"sources": [{"n": {"terms": {"field": "n"}}}]}}}})
    return f"{len(r['aggregations']['c']['buckets'])} buckets"


def checks(kind: str) -> list[tuple[str, Callable[[str], str]]]:
    opensearch = kind.startswith("opensearch")
    return [
        ("point in time (" + ("/_search/point_in_time" if opensearch else "/_pit") + ")",
         pit_opensearch if opensearch else pit_elasticsearch),
        ("point in time (" + ("/_pit" if opensearch else "/_search/point_in_time") + ")",
         pit_elasticsearch if opensearch else pit_opensearch),
        ("sliced scroll", sliced_scroll),
        ("data stream REST API (PUT/GET _data_stream)", data_stream_api),
        ("data stream created by indexing", data_stream_by_indexing),
        ("ingest pipeline with a set processor", ingest_pipeline),
        ("painless scripts", painless),
        ("_seq_no range query and sort", seq_no_range),
        *((f"analyzer {a}", analyzer(a)) for a in
          ("standard", "keyword", "simple", "whitespace", "stop", "pattern", "fingerprint", "english", "snowball")),
        *((f"token filter {t}", filter_check(t)) for t in ("lowercase", "asciifolding")),
        ("_reindex", reindex),
        ("_update_by_query", update_by_query),
        ("_delete_by_query", delete_by_query),
        ("search template (mustache)", search_template),
        ("scaled_float mapping (mapper-extras)", scaled_float),
        ("join mapping (parent-join)", join_field),
        *((f"{t} mapping", mapping_type(t)) for t in
          ("geo_point", "search_as_you_type", "rank_feature", "match_only_text",
           "flat_object", "flattened", "wildcard", "unsigned_long", "version")),
        ("constant_keyword mapping", mapping_type("constant_keyword", value="x")),
        ("geo_shape mapping, polygon and query", geo_shape),
        ("token_count mapping", mapping_type("token_count", analyzer="standard")),
        ("dense_vector mapping", mapping_type("dense_vector", dims=3)),
        ("knn_vector mapping", mapping_type("knn_vector", dimension=3)),
        ("composite aggregation", composite_agg),
        ("fs snapshot repository (path.repo)", snapshot_fs),
        ("ISM (_plugins/_ism)", ism),
        ("x-pack (_license)", x_pack),
        ("server basics", server_basics),
    ]


def probe(kind: str) -> None:
    t0 = time.monotonic()
    with start_search_node(kind) as node:
        started = time.monotonic() - t0
        root = call(node.url, "GET", "/")
        print(f"## {kind}: {root['version'].get('distribution', 'elasticsearch')} {root['version']['number']}"
              f" (lucene {root['version']['lucene_version']}), started in {started:.1f} s")
        seed(node.url)
        for name, check in checks(kind):
            try:
                result = "ok: " + check(node.url)
            except Refused as e:
                result = f"NO: {e}"
            except (AssertionError, KeyError, IndexError) as e:
                result = f"NO: unexpected answer {e!r}"[:300]
            print(f"- {name}: {result}", flush=True)


def main() -> None:
    kinds = sys.argv[1:] or list(KINDS)
    for kind in kinds:
        build(kind)
    for kind in kinds:
        probe(kind)


if __name__ == "__main__":
    main()
