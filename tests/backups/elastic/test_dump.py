from __future__ import annotations

import json
import os
import threading
import time

import orjson
import pytest

from backups.elastic.connection import ClusterConfig, ClusterError, connect
from backups.elastic.dump import DumpParams, ProgressEvent, dump_cluster
from backups.elastic.hits import parse_page
from backups.elastic.results import DumpEntry
from tests.fixtures.documents import expected_source, strip_ws, tricky_docs
from tests.fixtures.elastic import parse_stream, read_index
from tests.fixtures.memrepo import MemRepo


@pytest.fixture
def tricky(http, names):
    idx = names("tricky")
    http.create(idx, shards=3, mappings={"dynamic": False, "properties": {"msg": {"type": "text"}}})
    http.bulk(idx, tricky_docs())
    return idx


@pytest.mark.parametrize(("mode", "shards"), [("scroll", 3), ("pit", 3), ("pit", 1)])
def test_it_dumps_tricky_content_byte_for_byte(conn, http, names, mode, shards):
    tricky = names("tricky")
    http.create(tricky, shards=shards, mappings={"dynamic": False, "properties": {"msg": {"type": "text"}}})
    http.bulk(tricky, tricky_docs())
    mem = MemRepo()
    w = mem.writer()
    res = dump_cluster(conn, w, DumpParams(include=[tricky], read_mode=mode, batch_size=3, max_slices=3))
    assert res.ok, res.indices
    assert res.indices[tricky]["docs"] == len(tricky_docs())
    # OpenSearch pages a point in time exactly only over one shard (no _shard_doc)
    exact_pit = conn.distribution == "elasticsearch" or shards == 1
    assert res.indices[tricky]["read_mode"] == (mode if exact_pit else "scroll")
    assert any("no _shard_doc" in x for x in res.warnings) == (mode == "pit" and not exact_pit)
    assert res.indices[tricky]["slices"] == shards
    w.commit()
    got = parse_stream(b"".join(mem.read_stream(mem.latest(), f"indices/{tricky}")))
    want = {i: (expected_source(s), r) for i, s, r in tricky_docs()}
    assert set(got) == set(want)
    for _id, (src, routing) in want.items():
        assert strip_ws(got[_id][0]) == src, _id
        assert b"\n" not in got[_id][0]
        assert got[_id][1] == routing, _id


def test_the_stream_meta_holds_settings_mappings_aliases_and_counts(conn, http, names):
    idx = names("meta")
    http.create(idx, shards=2, mappings={"properties": {"k": {"type": "keyword"}}})
    http.bulk(idx, [(str(i), b'{"k":"v%d"}' % i, None) for i in range(7)])
    alias = names("alias")
    http.req("POST", "/_aliases", {"actions": [{"add": {"index": idx, "alias": alias, "filter": {"term": {"k": "v1"}},
                                                         "routing": "1", "is_write_index": True}}]})
    mem = MemRepo()
    w = mem.writer()
    res = dump_cluster(conn, w, DumpParams(include=[idx]))
    w.commit()
    meta = mem.latest().streams[f"indices/{idx}"].meta
    assert meta["docs"] == 7 and meta["complete"] and meta["uuid"]
    assert meta["settings"]["index"]["number_of_shards"] == "2"
    assert meta["mappings"]["properties"]["k"]["type"] == "keyword"
    assert meta["aliases"][alias]["filter"] == {"term": {"k": "v1"}}
    assert meta["aliases"][alias]["is_write_index"] is True
    assert meta["fingerprint"]
    assert res.cluster_meta["cluster"]["distribution"] in ("opensearch", "elasticsearch")


def test_cluster_metadata_holds_templates_pipelines_and_records_unsupported_kinds(conn, http, names, search):
    comp, itpl, legacy, pipeline = names("comp"), names("itpl"), names("legacy"), names("pipeline")
    http.req("PUT", f"/_component_template/{comp}", {"template": {"settings": {"number_of_shards": 1}}})
    http.req("PUT", f"/_index_template/{itpl}", {"index_patterns": [f"{itpl}-*"], "composed_of": [comp],
                                                 "priority": 321})
    http.req("PUT", f"/_template/{legacy}", {"index_patterns": [f"{legacy}-*"], "order": 3})
    processors = [{"set": {"field": "ingested", "value": True}}]
    if search.supports("ingest_pipelines"):
        http.req("PUT", f"/_ingest/pipeline/{pipeline}", {"processors": processors})
    idx = names("meta-only")
    http.create(idx, shards=1)
    try:
        mem = MemRepo()
        res = dump_cluster(conn, mem.writer(), DumpParams(include=[idx]))
        cm = res.cluster_meta
        assert cm["component_templates"]["items"][comp]["template"]["settings"]["index"]["number_of_shards"] in ("1", 1)
        assert cm["index_templates"]["items"][itpl]["priority"] == 321
        assert cm["legacy_templates"]["items"][legacy]["order"] == 3
        if search.supports("ingest_pipelines"):
            assert cm["ingest_pipelines"]["items"][pipeline]["processors"] == processors
        elif search.kind == "osmem":  # no ingest API at all: recorded as unsupported, not an error
            assert "unsupported" in cm["ingest_pipelines"], cm["ingest_pipelines"]
        else:  # the API without the processors' module: listed, and there can be none
            assert cm["ingest_pipelines"] == {"items": {}}
        if search.supports("lifecycle"):
            assert "items" in cm["lifecycle_policies"], cm["lifecycle_policies"]
        else:
            assert "unsupported" in cm["lifecycle_policies"], cm["lifecycle_policies"]
        assert res.ok
    finally:
        http.req("DELETE", f"/_index_template/{itpl}", ok=(200, 404))
        http.req("DELETE", f"/_component_template/{comp}", ok=(200, 404))
        http.req("DELETE", f"/_template/{legacy}", ok=(200, 404))
        http.req("DELETE", f"/_ingest/pipeline/{pipeline}", ok=(200, 400, 404))


def test_patterns_that_match_nothing_fail_naming_the_patterns_and_the_indices(conn, http, names):
    idx = names("there")
    http.create(idx, shards=1)
    mem = MemRepo()
    with pytest.raises(ClusterError) as e:
        dump_cluster(conn, mem.writer(), DumpParams(include=["tyop-*", "logz"], exclude=["x-*"]))
    message = str(e.value)
    assert "no index matches include ['tyop-*', 'logz'] / exclude ['x-*']" in message
    assert "the cluster has " in message and "fix the index patterns" in message
    # the server may be shared: the names shown are the first 20 of what is there
    there = sorted(r["index"] for r in http.req("GET", "/_cat/indices?format=json") if not r["index"].startswith("."))
    assert idx in there and there[0] in message
    assert (idx in message) if len(there) <= 20 else f"({len(there)} in all)" in message
    assert mem.latest() is None  # nothing committed: no green, empty snapshot


def test_the_list_of_indices_in_a_nothing_matches_message_is_shortened():
    from backups.elastic.metadata import nothing_matches

    message = nothing_matches("the cluster", ["a-*"], [], [f"logs-{i:03}" for i in range(50)])
    assert "logs-000, logs-001" in message and "logs-019" in message and "logs-020" not in message
    assert "… (50 in all)" in message
    assert "has no index" in nothing_matches("the snapshot", ["a-*"], [], [])


def test_it_selects_by_patterns_and_leaves_hidden_indices_out_unless_asked(conn, http, names):
    a, b, hidden = names("keep-a"), names("drop-b"), names("hid")
    for i in (a, b):
        http.create(i)
    http.create(hidden, settings={"index.hidden": True})
    prefix = a.split("-keep")[0]
    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[f"{prefix}-*"], exclude=["*-drop-*"],
                                                             metadata_kinds=()))
    assert set(res.indices) == {a}
    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[f"{prefix}-*"], include_hidden=True,
                                                             metadata_kinds=()))
    assert set(res.indices) == {a, b, hidden}


def test_a_closed_index_is_reported_not_silently_skipped(conn, http, names):
    idx = names("closed")
    http.create(idx)
    http.req("POST", f"/{idx}/_close")
    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[idx], metadata_kinds=()))
    assert res.indices[idx]["closed"] is True
    assert any("closed" in w and idx in w for w in res.warnings)
    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[idx], metadata_kinds=(), fail_on_closed=True))
    assert not res.ok and "_open" in res.indices[idx]["error"]


def test_a_short_read_fails_the_index_loudly(cluster_url, http, names, proxy):

    idx = names("short")
    http.create(idx, shards=1)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(30)])

    def drop_one_hit(method, path, data):
        if "scroll" in path and b'"hits":[{' in data:
            doc = orjson.loads(data)
            if len(doc["hits"]["hits"]) > 1:
                doc["hits"]["hits"].pop()
                return orjson.dumps(doc)
        return data

    proxy.transform = drop_one_hit
    c = connect(ClusterConfig(urls=[proxy.url]))
    mem = MemRepo()
    w = mem.writer()
    res = dump_cluster(c, w, DumpParams(include=[idx], read_mode="scroll", batch_size=10, metadata_kinds=()))
    assert not res.ok
    assert "count" in res.indices[idx]["error"] and "30" in res.indices[idx]["error"]
    assert f"indices/{idx}" not in w.streams  # no short stream reaches the snapshot


def test_shard_failures_fail_the_index(cluster_url, http, names, proxy):

    idx = names("shardfail")
    http.create(idx)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(5)])

    def fail_shards(method, path, data):
        if "_search" in path and b'"hits"' in data:
            doc = orjson.loads(data)
            doc["_shards"]["failed"] = 1
            doc["_shards"]["failures"] = [{"shard": 0, "reason": {"type": "boom"}}]
            return orjson.dumps(doc)
        return data

    proxy.transform = fail_shards
    c = connect(ClusterConfig(urls=[proxy.url]))
    res = dump_cluster(c, MemRepo().writer(), DumpParams(include=[idx], metadata_kinds=()))
    assert not res.ok and "shard failures" in res.indices[idx]["error"]


def test_skip_unchanged_reads_nothing_and_rereads_what_changed(conn, http, names, search):
    same, upd, dele, add = names("same"), names("upd"), names("del"), names("add")
    for idx in (same, upd, dele, add):
        http.create(idx, shards=3)
        http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(40)])
    mem = MemRepo()
    w = mem.writer()
    first = dump_cluster(conn, w, DumpParams(include=[same, upd, dele, add], metadata_kinds=()))
    assert first.ok
    w.commit()
    prev = mem.latest()

    # update in place on a multi-shard index (osmem's max_seq_no does not move), a delete, an add
    http.bulk(upd, [("7", b'{"n":1007}', None)])
    http.req("DELETE", f"/{dele}/_doc/3?refresh=true")
    http.bulk(add, [("new", b'{"n":-1}', None)])

    w2 = mem.writer()
    second = dump_cluster(conn, w2, DumpParams(include=[same, upd, dele, add], metadata_kinds=()), previous=prev)
    assert second.ok, second.indices
    assert second.indices[same]["skipped_unchanged"] is True
    for idx in (upd, dele, add):
        assert second.indices[idx]["skipped_unchanged"] is False, idx
    w2.commit()
    m = mem.latest()
    assert m.streams[f"indices/{same}"].chunks == prev.streams[f"indices/{same}"].chunks
    assert m.streams[f"indices/{same}"].meta["docs"] == 40
    got = parse_stream(b"".join(mem.read_stream(m, f"indices/{upd}")))
    assert got["7"][0] == b'{"n":1007}'
    before = prev.streams[f"indices/{upd}"].meta["fingerprint_signals"]
    after = m.streams[f"indices/{upd}"].meta["fingerprint_signals"]
    seq = [(s["max_seq_no"], s["local_checkpoint"]) for s in before["shards"].values()]
    seq_after = [(s["max_seq_no"], s["local_checkpoint"]) for s in after["shards"].values()]
    if search.supports("seq_no_stats"):
        assert seq != seq_after  # a real engine moves max_seq_no on an update in place
    else:
        # osmem's quirk: seq_no alone would have called it unchanged; the other signals did not
        assert seq == seq_after
    assert len(parse_stream(b"".join(mem.read_stream(m, f"indices/{dele}")))) == 39
    assert len(parse_stream(b"".join(mem.read_stream(m, f"indices/{add}")))) == 41
    # only the changed indices were read: the unchanged one cost zero documents
    assert w2.bytes_read == sum(second.indices[i]["bytes"] for i in (upd, dele, add))

    # and a third run sees everything unchanged
    w3 = mem.writer()
    third = dump_cluster(conn, w3, DumpParams(include=[same, upd, dele, add], metadata_kinds=()), previous=m)
    assert all(e["skipped_unchanged"] for e in third.indices.values())
    assert w3.bytes_read == 0


def test_a_merge_does_not_move_the_fingerprint_and_every_kind_of_write_does(conn, http, names, search):
    """A real engine merges segments and commits after the merge long after the last
    write (new Lucene commit id, deleted documents expunged): that must not make the next
    backup read the index again; a write, a delete and a write nobody refreshed must."""
    idx = names("merged")
    http.create(idx, shards=2, settings={"refresh_interval": "-1"})
    for k in range(4):   # several segments, and deleted documents for the merge to expunge
        http.bulk(idx, [(str(i), b'{"n":%d,"k":%d}' % (i, k), None) for i in range(k * 20, k * 20 + 30)])
    mem = MemRepo()

    def backup() -> DumpEntry:
        w = mem.writer()
        res = dump_cluster(conn, w, DumpParams(include=[idx], metadata_kinds=()), previous=mem.latest())
        assert res.ok, res.indices
        w.commit()
        return res.indices[idx]

    def commits() -> list[str]:
        shards = http.req("GET", f"/{idx}/_stats/docs?level=shards")["indices"][idx]["shards"]
        return sorted(str((c.get("commit") or {}).get("id")) for copies in shards.values() for c in copies)

    assert backup()["docs"] == 90
    if search.is_real:   # osmem has no segments to merge
        before = commits()
        http.req("POST", f"/{idx}/_forcemerge?max_num_segments=1")
        http.req("POST", f"/{idx}/_flush?force=true")
        assert commits() != before   # a new Lucene commit, as after a background merge
    assert backup()["skipped_unchanged"] is True

    def seen(change: str) -> dict[str, tuple[bytes, str | None]]:
        e = backup()
        assert e["skipped_unchanged"] is False, change
        return parse_stream(b"".join(mem.read_stream(mem.latest(), f"indices/{idx}")))

    # neither refreshed by the write nor by the index (refresh_interval -1): the dump's own refresh makes them visible
    http.req("PUT", f"/{idx}/_doc/late", {"n": -1})
    assert seen("a write nobody refreshed")["late"][0] == b'{"n":-1}'
    http.req("DELETE", f"/{idx}/_doc/5")
    assert "5" not in seen("a delete")
    http.req("PUT", f"/{idx}/_doc/7?refresh=true", {"n": 1007})
    assert seen("an update in place")["7"][0] == b'{"n":1007}'
    assert backup()["skipped_unchanged"] is True


def test_fingerprints_come_before_the_refresh_and_many_indices_cost_few_requests(http, names, proxy):
    idxs = [names(f"many{i}") for i in range(6)]
    for idx in idxs:
        http.create(idx)
        http.bulk(idx, [("a", b'{"n":1}', None)])
    c = connect(ClusterConfig(urls=[proxy.url]))
    mem = MemRepo()
    w = mem.writer()
    assert dump_cluster(c, w, DumpParams(include=idxs, metadata_kinds=())).ok
    w.commit()
    proxy.requests.clear()
    second = dump_cluster(c, mem.writer(), DumpParams(include=idxs, metadata_kinds=()), previous=mem.latest())
    assert all(e["skipped_unchanged"] for e in second.indices.values())
    paths = [p.split("?")[0] for _, p in proxy.requests]
    # a write acknowledged between a refresh and the statistics would be in the fingerprint
    # but not in the stream, and later runs would skip the index without it
    first_stats = next(i for i, p in enumerate(paths) if "/_stats" in p)
    first_refresh = next(i for i, p in enumerate(paths) if p.endswith("/_refresh"))
    assert first_stats < first_refresh
    # one request of each kind for all six indices, and nothing per index
    for suffix in ("/_stats/docs,indexing,store", "/_refresh", "/_mapping", "/_alias"):
        assert sum(p.endswith(suffix) for p in paths) == 1, (suffix, paths)
    assert len(paths) <= 12, paths


def test_large_documents_are_read_in_smaller_pages(http, names, proxy):
    big, small = names("bigdocs"), names("smalldocs")
    for idx in (big, small):
        http.create(idx)
    # random hex: a real cluster compresses it only about twofold on disk
    http.bulk(big, [(str(i), b'{"i":%d,"blob":"%s"}' % (i, os.urandom(100_000).hex().encode()), None)
                    for i in range(30)])
    http.bulk(small, [(str(i), b'{"i":%d}' % i, None) for i in range(30)])
    sizes: dict[str, list[int]] = {big: [], small: []}

    def spy(method, path, body):
        for idx in sizes:
            if path.startswith(f"/{idx}/_search"):
                sizes[idx].append(orjson.loads(body)["size"])
        return None

    proxy.rule = spy
    c = connect(ClusterConfig(urls=[proxy.url]))
    mem = MemRepo()
    w = mem.writer()
    # 512 KB pages: 6 MB of large documents must not come as one page
    # scroll: its requests name the index (a point in time's do not); the sizing is the same
    res = dump_cluster(c, w, DumpParams(include=[big, small], metadata_kinds=(), page_bytes=1 << 19,
                                        read_mode="scroll"))
    assert res.ok
    w.commit()
    m = mem.latest()
    assert 1 <= sizes[big][0] <= 5 and m.streams[f"indices/{big}"].meta["page_docs"] == sizes[big][0]
    # small documents keep large pages (a real store's fixed overhead makes a 30-document
    # index look like ~4 KB per document: still thousands per page)
    assert sizes[small][0] >= 1000
    got = parse_stream(b"".join(mem.read_stream(m, f"indices/{big}")))
    assert len(got) == 30 and all(len(src) > 200_000 for src, _ in got.values())


def test_progress_and_throttling(conn, http, names):
    idx = names("throttle")
    http.create(idx, shards=2)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(300)])
    events: list[ProgressEvent] = []
    t = time.monotonic()
    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[idx], batch_size=50, max_docs_per_second=1000,
                                                             metadata_kinds=()), progress=events.append)
    assert res.ok
    assert time.monotonic() - t >= 0.2      # 300 docs at 1000/s, first page free
    data = [e for e in events if e.phase == "data"]
    assert data and data[-1].docs == 300 and data[-1].total == 300 and data[-1].bytes == res.indices[idx]["bytes"]
    assert events[-1].phase == "done"


def test_cancel_stops_the_dump(conn, http, names):
    idx = names("cancel")
    http.create(idx)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(50)])
    cancel = threading.Event()

    def stop(ev: ProgressEvent) -> None:
        if ev.phase == "data":
            cancel.set()

    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[idx], batch_size=5, metadata_kinds=()),
                       progress=stop, cancel=cancel)
    assert not res.ok and "cancelled" in res.indices[idx]["error"]


def test_pages_keep_source_bytes():
    raw = (b'{"_scroll_id":"s","hits":{"total":{"value":2,"relation":"eq"},"hits":['
           b'{"_index":"i","_id":"a","_score":null,"_source":{"n":123456789012345678901234567890},"sort":[0]},'
           b'{"_index":"i","_id":"b","_routing":"r","_source":{"x":{"_source":{"y":1.50}}},"sort":[1]}]}}')
    page = parse_page(raw)
    assert page.docs == 2 and page.total == 2 and page.scroll_id == "s" and page.last_sort == [1]
    assert page.lines == (b'{"_id":"a","_source":{"n":123456789012345678901234567890}}\n'
                          b'{"_id":"b","_routing":"r","_source":{"x":{"_source":{"y":1.50}}}}\n')
    compact = b'{"hits":{"total":{"value":1,"relation":"gte"},"hits":[{"_id":"a","_source":{"f":0.5}}]}}'
    # "gte" totals are not counts: None, so the caller counts another way
    page = parse_page(compact)
    assert page.total is None
    assert page.lines == b'{"_id":"a","_source":{"f":0.5}}\n'


def test_pages_from_a_pretty_printing_server_stay_one_line_per_document():
    raw = (b'{\n  "_scroll_id" : "s",\n  "_shards" : {"total": 1, "failures": []},\n  "hits" : {\n'
           b'    "total" : 7,\n    "hits" : [ {\n      "_id" : "a\\"\\n\xc3\xa9",\n      "_source" : {\n'
           b'        "t" : "line\\nbreak \xe2\x98\x83",\r\n        "big" : 1e400\n      },\n'
           b'      "sort" : [ 18446744073709551617 ]\n    } ]\n  }\n}\n')
    page = parse_page(raw)
    assert page.total == 7 and page.docs == 1 and page.last_sort == [18446744073709551617]
    assert page.shard_failures == []
    assert page.lines.count(b"\n") == 1 and page.lines.endswith(b"\n")
    doc = json.loads(page.lines)
    assert doc["_id"] == 'a"\n\xe9' and doc["_source"]["t"] == "line\nbreak \u2603"
    # the number is passed on as written, not as the float it would round to
    assert b'"big" : 1e400' in page.lines


def test_a_page_without_source_or_not_json_is_a_clear_error():
    with pytest.raises(ClusterError, match=r"document 'a' of index logs has no _source"):
        parse_page(b'{"hits":{"hits":[{"_id":"a"}]}}', index="logs")
    with pytest.raises(ClusterError, match="not valid JSON for index logs"):
        parse_page(b'{"hits":{"hits":[{"_id":"a","_source":{"x":}}]}}', index="logs")
    with pytest.raises(ClusterError, match="unexpected search response"):
        parse_page(b'{"hits":{"hits":[{"_source":{}}]}}')


def test_read_index_helper_sees_what_was_written(conn, http, names):
    idx = names("helper")
    http.create(idx)
    http.bulk(idx, [("a", b'{"v":1}', None)])
    assert read_index(conn, idx) == {"a": (b'{"v":1}', None)}


def test_a_stream_that_cannot_be_reused_is_read_again(conn, http, names):
    idx = names("noreuse")
    http.create(idx)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(5)])
    mem = MemRepo()
    w = mem.writer()
    dump_cluster(conn, w, DumpParams(include=[idx], metadata_kinds=()))
    w.commit()
    prev = mem.latest()
    w2 = mem.writer()

    def broken(name, previous, meta):
        raise RuntimeError("2 of its chunks are gone (pruned?)")

    w2.reuse_stream = broken
    res = dump_cluster(conn, w2, DumpParams(include=[idx], metadata_kinds=()), previous=prev)
    assert res.ok and res.indices[idx]["skipped_unchanged"] is False and res.indices[idx]["docs"] == 5
    assert any("pruned" in x for x in res.warnings)


@pytest.mark.search_kinds("osmem")
def test_elasticsearch_style_calls_against_a_server_without_them(cluster_url, http, names):
    # osmem has neither `/{index}/_pit` nor ILM: with an Elasticsearch dialect the PIT
    # falls back to scroll (said in the warnings) and ILM is recorded as unsupported
    from backups.elastic.connection import ClusterConfig, Connection
    from backups.elastic.dialect import Dialect

    idx = names("esdialect")
    http.create(idx, shards=2)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(12)])
    c = Connection(ClusterConfig(urls=[cluster_url]))
    c.identify()
    if c.distribution != "opensearch":
        pytest.skip("needs an OpenSearch-compatible server to provoke the fallback")
    c.dialect = Dialect("elasticsearch", (8, 15, 0))
    assert c.dialect.default_read_mode == "pit"
    mem = MemRepo()
    w = mem.writer()
    res = dump_cluster(c, w, DumpParams(include=[idx], metadata_kinds=("lifecycle_policies", "ingest_pipelines"),
                                        resumable_bytes=0))   # a point in time even for a small index
    assert res.ok, res.indices
    assert res.indices[idx]["docs"] == 12 and res.indices[idx]["read_mode"] == "scroll"
    assert any("point in time unavailable" in x for x in res.warnings)
    assert "unsupported" in res.cluster_meta["lifecycle_policies"]
    assert "/_ilm/policy" in res.cluster_meta["lifecycle_policies"]["unsupported"]
    assert "unsupported" in res.cluster_meta["ingest_pipelines"]


def test_data_streams_bring_their_backing_indices_and_are_recorded(conn, http, names):
    from backups.elastic.metadata import IndexInfo, select_with_data_streams

    def ix(name: str, hidden: bool = False) -> IndexInfo:
        return IndexInfo(name, "open", "green", "u", 1, hidden, {})

    indices = [ix(".ds-logs-app-2026.11.01-000001", True), ix(".ds-logs-app-2026.11.02-000002", True),
               ix("logs-plain"), ix(".ds-metrics-000001", True)]
    streams = {"items": {"logs-app": {"indices": [".ds-logs-app-2026.11.01-000001", ".ds-logs-app-2026.11.02-000002"]},
                         "metrics": {"indices": [".ds-metrics-000001"]}}}
    chosen, backing = select_with_data_streams(indices, streams, ["logs-*"], [], False)
    assert [i.name for i in chosen] == [".ds-logs-app-2026.11.01-000001", ".ds-logs-app-2026.11.02-000002",
                                        "logs-plain"]
    assert backing[".ds-metrics-000001"] == "metrics"
    chosen, _ = select_with_data_streams(indices, streams, ["*"], ["*-000002"], False)
    assert [i.name for i in chosen] == [".ds-logs-app-2026.11.01-000001", ".ds-metrics-000001", "logs-plain"]



@pytest.mark.search_kinds("osmem")
def test_a_server_that_cannot_make_data_streams_lists_none(conn, http, names):
    idx = names("ds-probe")
    http.create(idx, shards=1)
    res = dump_cluster(conn, MemRepo().writer(), DumpParams(include=[idx], metadata_kinds=()))
    assert res.cluster_meta["data_streams"] == {"items": {}}


def test_small_indices_are_read_several_at_once_and_a_large_one_alone(conn, http, names):
    small = [names(f"{'a' if i < 3 else 'z'}small{i}") for i in range(7)]
    large = names("m-large")   # between the small ones in the cluster's (name) order
    for k, idx in enumerate(small):
        http.create(idx)
        http.bulk(idx, [(f"{k}-{i}", b'{"n":%d}' % i, None) for i in range(8)])
    http.create(large, shards=2)
    http.bulk(large, [(str(i), b'{"n":%d}' % i, None) for i in range(60)])   # more than one page of 10
    order = [*small[:3], large, *small[3:]]
    running: set[str] = set()
    most = {"small": 0, "beside_large": 0}

    def progress(ev: ProgressEvent) -> None:   # called by one index at a time
        if ev.phase == "start":
            running.add(ev.index)
            most["small"] = max(most["small"], len(running))
        if large in running:
            most["beside_large"] = max(most["beside_large"], len(running) - 1)
        if ev.phase in ("done", "failed"):
            running.discard(ev.index)

    mem = MemRepo()
    w = mem.writer()
    res = dump_cluster(conn, w, DumpParams(include=order, batch_size=10, parallel_indices=3, metadata_kinds=()),
                       progress=progress)
    assert res.ok, res.indices
    w.commit()
    assert list(res.indices) == sorted(order)   # the cluster's order (by name), as one at a time gives
    assert most["small"] >= 2 and most["beside_large"] == 0, most
    m = mem.latest()
    for k, idx in enumerate(small):
        assert sorted(parse_stream(b"".join(mem.read_stream(m, f"indices/{idx}")))) == sorted(f"{k}-{i}" for i in range(8))
    assert len(parse_stream(b"".join(mem.read_stream(m, f"indices/{large}")))) == 60
    one = dump_cluster(conn, mem.writer(), DumpParams(include=order, parallel_indices=1, metadata_kinds=(),
                                                      skip_unchanged=False))
    assert {k: v["docs"] for k, v in one.indices.items()} == {k: v["docs"] for k, v in res.indices.items()}


@pytest.mark.search_kinds("elasticsearch-8")
def test_auto_reads_an_elasticsearch_index_by_sliced_scroll_unless_it_is_large_enough_to_resume(conn, http, names,
                                                                                                repo):
    """A point in time costs Elasticsearch twice a scroll's CPU: "auto" takes it only for an
    index of `resumable_bytes` or more (an interrupted read then continues mid-index). Both
    keep the sequence list the next delta needs."""
    idx = names("auto")
    http.create(idx, shards=2)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(30)])
    for resumable, mode in ((16 << 30, "scroll"), (0, "pit")):
        with repo.writer() as w:
            res = dump_cluster(conn, w, DumpParams(include=[idx], metadata_kinds=(), resumable_bytes=resumable),
                               read_previous=lambda name: iter(()))
            assert res.ok, res.indices
            sid = w.commit(meta={"status": "Succeeded"})
        assert (res.indices[idx]["read_mode"], res.indices[idx]["docs"]) == (mode, 30)
        assert "seq_list" in repo.manifest(sid).streams[f"indices/{idx}"].meta, mode
