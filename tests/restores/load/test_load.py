from __future__ import annotations

import itertools
import os
import random
import re
import threading

import orjson
import pytest

from backups.elastic.connection import ClusterConfig, connect
from backups.elastic.dump import DumpParams, dump_cluster
from restores.load import LoadParams, creatable_settings, load_snapshot
from restores.rename import Renamer
from tests.fixtures.documents import expected_source, strip_ws, tricky_docs
from tests.fixtures.elastic import read_index
from tests.peers.clusters import ONE_KIND


def backup(conn, repo, include, **kw):
    with repo.writer(meta={"configuration": "test"}) as w:
        res = dump_cluster(conn, w, DumpParams(include=include, **kw))
        assert res.ok, res.indices
        w.commit(meta={"cluster": res.cluster_meta["cluster"], "cluster_metadata": res.cluster_meta,
                       "status": "Succeeded"})
    return repo.manifest("latest")


def restore(conn, repo, manifest, **kw):
    return load_snapshot(conn, manifest, open_stream=lambda name: repo.read_stream(manifest, name),
                         params=LoadParams(**kw))


def test_round_trip_of_tricky_content_with_rename(conn, http, names, repo):
    src = names("rt-src")
    http.create(src, shards=3, mappings={"dynamic": False, "properties": {"msg": {"type": "text"}}},
                settings={"refresh_interval": "7s"})
    http.bulk(src, tricky_docs())
    alias = names("rt-alias")
    http.req("POST", "/_aliases", {"actions": [{"add": {"index": src, "alias": alias, "routing": "r1",
                                                         "filter": {"match_all": {}}}}]})
    m = backup(conn, repo, [src], metadata_kinds=())
    target, new_alias = names("rt-src-restored"), names("rt-alias-restored")
    res = restore(conn, repo, m, rename_pattern=r"rt-(src|alias)$", rename_replacement=r"rt-\g<1>-restored",
                  metadata_kinds=())
    assert res.ok, res.indices
    e = res.indices[target]
    assert e["docs"] == len(tricky_docs()) and e["count"] == len(tricky_docs()) and e["status"] == "Succeeded"
    got = read_index(conn, target)
    for _id, s, routing in tricky_docs():
        assert strip_ws(got[_id][0]) == expected_source(s), _id
        assert got[_id][1] == routing
    # settings restored after the load, aliases renamed with their routing/filter
    st = http.req("GET", f"/{target}/_settings")[target]["settings"]["index"]
    assert st["refresh_interval"] == "7s" and st["number_of_shards"] == "3" and st["number_of_replicas"] == "0"
    al = http.req("GET", f"/{target}/_alias")[target]["aliases"]
    assert list(al) == [new_alias]
    assert al[new_alias].get("index_routing") == "r1" and al[new_alias].get("filter") == {"match_all": {}}


def test_templates_are_restored_with_renamed_patterns(conn, http, names, repo, search):
    comp, itpl, legacy = names("rcomp"), names("ritpl"), names("rlegacy")
    http.req("PUT", f"/_component_template/{comp}", {"template": {"mappings": {"properties": {"z": {"type": "keyword"}}}}})
    http.req("PUT", f"/_index_template/{itpl}", {"index_patterns": ["logs-old-*"], "composed_of": [comp],
                                                 "priority": 777, "template": {"aliases": {"logs-old": {}}}})
    # not overlapping the composable one's: Elasticsearch 8 refuses a legacy template that does
    http.req("PUT", f"/_template/{legacy}", {"index_patterns": ["logs-old7-*"], "order": 5})
    idx = names("rtpl-idx")
    http.create(idx, shards=1)
    try:
        m = backup(conn, repo, [idx])
        for n in (itpl, comp, legacy):
            http.req("DELETE", f"/_{'index_template' if n == itpl else 'component_template' if n == comp else 'template'}/{n}")
        http.req("DELETE", f"/{idx}")
        res = restore(conn, repo, m, rename_pattern="^logs-old", rename_replacement="logs-new")
        assert res.metadata["component_templates"][comp] == "restored"
        assert res.metadata["index_templates"][itpl] == "restored"
        assert res.metadata["legacy_templates"][legacy] == "restored"
        pipelines = res.metadata["ingest_pipelines"]
        if search.kind == "osmem":  # no ingest API: said, not an error
            assert pipelines["*"].startswith("skipped: unsupported by the source"), pipelines
        else:  # the cluster's own pipelines, if any, went back where they came from
            assert set(pipelines.values()) <= {"restored"}, pipelines
        t = http.req("GET", f"/_index_template/{itpl}")["index_templates"][0]["index_template"]
        assert t["index_patterns"] == ["logs-new-*"] and t["composed_of"] == [comp]
        assert list(t["template"]["aliases"]) == ["logs-new"]
        lt = http.req("GET", f"/_template/{legacy}")[legacy]
        assert lt["index_patterns"] == ["logs-new7-*"]
    finally:
        http.req("DELETE", f"/_index_template/{itpl}", ok=(200, 404))
        http.req("DELETE", f"/_component_template/{comp}", ok=(200, 404))
        http.req("DELETE", f"/_template/{legacy}", ok=(200, 404))


def test_a_restore_whose_patterns_match_nothing_fails_naming_them_and_the_snapshots_indices(conn, repo, snap):
    idx, m = snap
    with pytest.raises(ValueError) as e:
        restore(conn, repo, m, include=["tyop-*"], metadata_kinds=())
    message = str(e.value)
    assert "no index matches include ['tyop-*'] / exclude []: the snapshot has " + idx in message
    assert "fix the index patterns" in message


@pytest.fixture
def snap(conn, http, names, repo):
    idx = names("conflict")
    http.create(idx, shards=2)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(20)])
    m = backup(conn, repo, [idx], metadata_kinds=())
    # the live index moves on after the backup
    http.bulk(idx, [("extra", b'{"n":-1}', None), ("3", b'{"n":333}', None)])
    return idx, m


def test_conflict_fail_is_the_default_and_leaves_the_index_alone(conn, http, repo, snap):
    idx, m = snap
    res = restore(conn, repo, m, metadata_kinds=())
    assert not res.ok and res.indices[idx]["status"] == "Failed"
    assert "already exists" in res.indices[idx]["error"]
    assert http.count(idx) == 21


def test_conflict_skip(conn, http, repo, snap):
    idx, m = snap
    res = restore(conn, repo, m, conflict="skip", metadata_kinds=())
    assert res.ok and res.indices[idx]["status"] == "Skipped"
    assert http.count(idx) == 21


def test_conflict_overwrite_recreates_the_index(conn, http, repo, snap):
    idx, m = snap
    res = restore(conn, repo, m, conflict="overwrite", metadata_kinds=())
    assert res.ok, res.indices
    got = read_index(conn, idx)
    assert len(got) == 20 and "extra" not in got and got["3"][0] == b'{"n":3}'


def test_conflict_merge_indexes_into_the_existing_index(conn, http, repo, snap):
    idx, m = snap
    res = restore(conn, repo, m, conflict_per_index={idx: "merge"}, metadata_kinds=())
    assert res.ok, res.indices
    got = read_index(conn, idx)
    assert len(got) == 21 and "extra" in got and got["3"][0] == b'{"n":3}'


def test_mapping_conflicts_are_counted_reported_and_fail_the_index(conn, http, names, repo):
    idx = names("mapconf")
    http.create(idx, mappings={"properties": {"n": {"type": "keyword"}}})
    http.bulk(idx, [(str(i), b'{"n":"%s"}' % (b"word" if i % 3 == 0 else b"%d" % i), None) for i in range(30)])
    m = backup(conn, repo, [idx], metadata_kinds=())
    http.delete(idx)
    http.create(idx, mappings={"properties": {"n": {"type": "long"}}})
    res = restore(conn, repo, m, conflict="merge", metadata_kinds=())
    e = res.indices[idx]
    assert not res.ok and e["status"] == "Failed"
    assert e["failed"] == 10 and e["docs"] == 20
    # Elasticsearch 8 calls it document_parsing_exception, OpenSearch mapper_parsing_exception
    assert len(e["failures"]) == 5
    assert all(re.search(r"(mapper|document)_parsing_exception.*failed to parse field \[n\]", f) for f in e["failures"])
    assert "10 documents could not be indexed" in e["error"]


def test_bulk_answers_carry_each_items_status_and_error_only(http, names, repo, proxy):
    """The load asks `_bulk` for each item's status and error alone (filter_path): a small
    part of the answer's bytes, with failures still counted and reported by id."""
    idx = names("lean")
    http.create(idx, mappings={"properties": {"n": {"type": "keyword"}}})
    http.bulk(idx, [(str(i), b'{"n":"%s"}' % (b"word" if i % 3 == 0 else b"%d" % i), None) for i in range(30)])
    c = connect(ClusterConfig(urls=[proxy.url]))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    http.create(idx, mappings={"properties": {"n": {"type": "long"}}})
    items = []

    def record(method, path, data):
        if "_bulk" in path:
            items.extend(next(iter(it.values())) for it in orjson.loads(data)["items"])
        return data

    proxy.transform = record
    res = restore(c, repo, m, conflict="merge", metadata_kinds=(), bulk_bytes=300)
    e = res.indices[idx]
    assert e["failed"] == 10 and e["docs"] == 20 and len(e["failures"]) == 5, e
    assert all(re.match(r"\d+: HTTP 400 ", f) for f in e["failures"]), e["failures"]
    assert len(items) == 30 and all(set(it) <= {"status", "error"} for it in items), items[:3]


@pytest.mark.search_kinds(ONE_KIND)  # what the load asks the server for: no engine behaviour in it
def test_the_index_refreshes_as_the_server_does_by_default_while_it_loads(http, names, repo, proxy):
    """Refresh is not turned off for the load (-1): that ended every load with one refresh
    of all the server had buffered, alone on the server. The snapshot's own interval is
    put back after."""
    idx = names("refresh")
    http.create(idx, settings={"refresh_interval": "7s"})
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(20)])
    c = connect(ClusterConfig(urls=[proxy.url]))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    during = []

    def look(method, path, body):
        if "_bulk" in path and not during:
            during.append(http.req("GET", f"/{idx}/_settings")[idx]["settings"]["index"].get("refresh_interval"))
        return None

    proxy.rule = look
    res = restore(c, repo, m, metadata_kinds=(), bulk_bytes=200, workers=1)
    assert res.ok and res.indices[idx]["count"] == 20, res.indices
    assert during == [None]
    assert http.req("GET", f"/{idx}/_settings")[idx]["settings"]["index"]["refresh_interval"] == "7s"


def test_a_429_storm_loses_nothing(cluster_url, http, names, repo, proxy):
    idx = names("storm")
    http.create(idx, shards=2)
    docs = [(f"d{i}", b'{"n":%d,"pad":"%s"}' % (i, b"y" * 200), None) for i in range(600)]
    http.bulk(idx, docs)
    c = connect(ClusterConfig(urls=[proxy.url], backoff_base=0.005, backoff_max=0.05, max_retries=50))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    rnd = random.Random(7)
    lock = threading.Lock()
    seen = {"bulk": 0, "rejected_whole": 0, "rejected_items": 0}

    def storm(method, path, body):
        if "_bulk" not in path:
            return None
        with lock:
            seen["bulk"] += 1
            if rnd.random() < 0.4:
                seen["rejected_whole"] += 1
                return 429, b'{"error":{"type":"es_rejected_execution_exception","reason":"queue full"},"status":429}'
        return None

    def reject_items(method, path, data):
        # answer 429 for a fraction of the items of a bulk that did go through... by
        # rewriting the response, then the client must resend exactly those items; the
        # server indexed them already, so resending is idempotent (same _id)
        if "_bulk" not in path:
            return data
        doc = orjson.loads(data)
        with lock:
            for it in doc["items"]:
                r = it["index"]
                if rnd.random() < 0.2:
                    seen["rejected_items"] += 1
                    r["status"] = 429
                    r["error"] = {"type": "es_rejected_execution_exception", "reason": "rejected"}
                    doc["errors"] = True
        return orjson.dumps(doc)

    proxy.rule, proxy.transform = storm, reject_items
    res = load_snapshot(c, m, open_stream=lambda n: repo.read_stream(m, n),
                        params=LoadParams(metadata_kinds=(), workers=3, bulk_bytes=20_000, max_item_retries=30))
    assert res.ok, res.indices
    assert seen["rejected_whole"] > 3 and seen["rejected_items"] > 10
    got = read_index(c, idx)
    assert len(got) == 600 and res.indices[idx]["count"] == 600 and res.indices[idx]["failed"] == 0


@pytest.mark.search_kinds(ONE_KIND)  # the proxy answers the 429s: no engine behaviour in it
def test_a_whole_bulk_refused_for_load_is_resent_by_the_window_alone(cluster_url, http, names, repo, proxy):
    """The connection leaves a 429 to the load (caller_retries): each refusal halves the window
    and the bulk is sent again up to max_item_retries times, not that times the connection's
    max_retries; 503 stays the connection's to retry."""
    idx = names("refused")
    http.create(idx)
    http.bulk(idx, [(f"d{i}", b'{"n":%d}' % i, None) for i in range(10)])
    c = connect(ClusterConfig(urls=[proxy.url], backoff_base=0.001, backoff_max=0.002, max_retries=5))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    answers = iter([429, 503, 429, 429, None, None])
    seen = []

    def refuse(method, path, body):
        if "_bulk" not in path:
            return None
        status = next(answers)
        seen.append(status)
        return (status, b'{"error":{"type":"es_rejected_execution_exception","reason":"queue full"},"status":%d}'
                % status) if status else None

    proxy.rule = refuse
    res = restore(c, repo, m, metadata_kinds=(), workers=4, max_item_retries=3)
    e = res.indices[idx]
    assert res.ok and e["count"] == 10, e
    assert seen == [429, 503, 429, 429, None]
    assert e["backoffs"] == 3 and e["fewest_senders"] == 1, e
    http.delete(idx)
    seen.clear()
    answers = itertools.repeat(429)
    res = restore(c, repo, m, metadata_kinds=(), workers=4, max_item_retries=3)
    assert not res.ok and "429" in res.indices[idx]["error"]
    assert seen == [429] * 4  # one send and three resends: the connection retried none of them


@pytest.mark.search_kinds(ONE_KIND)  # the proxy answers 503: the retries are ours, whatever the server
def test_retries_give_up_loudly(cluster_url, http, names, repo, proxy):
    idx = names("giveup")
    http.create(idx)
    http.bulk(idx, [("a", b'{"n":1}', None)])
    c = connect(ClusterConfig(urls=[proxy.url], backoff_base=0.001, backoff_max=0.002, max_retries=2))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    proxy.rule = lambda method, path, body: (503, b'{"error":"unavailable"}') if "_bulk" in path else None
    res = load_snapshot(c, m, open_stream=lambda n: repo.read_stream(m, n), params=LoadParams(metadata_kinds=()))
    assert not res.ok and "503" in res.indices[idx]["error"]


def test_settings_the_cluster_sets_itself_are_dropped():
    s = {"index": {"uuid": "u", "creation_date": "1", "provided_name": "x", "version": {"created": "1"},
                   "routing": {"allocation": {"initial_recovery": {"_id": "n"}, "include": {"tier": "hot"}}},
                   "number_of_shards": "2", "analysis": {"analyzer": {"a": {"type": "standard"}}}}}
    out = creatable_settings(s)
    assert out == {"index": {"routing": {"allocation": {"include": {"tier": "hot"}}}, "number_of_shards": "2",
                             "analysis": {"analyzer": {"a": {"type": "standard"}}}}}


def test_rename_applies_to_names_aliases_and_patterns():
    r = Renamer(r"^prod-(.*)$", r"staging-\1")
    assert r("prod-logs") == "staging-logs" and r("other") == "other"
    assert r.aliases({"prod-a": {"is_write_index": True}}) == {"staging-a": {"is_write_index": True}}
    t = r.template({"index_patterns": ["prod-*", "x-*"], "template": {"aliases": {"prod-all": {}}}})
    assert t == {"index_patterns": ["staging-*", "x-*"], "template": {"aliases": {"staging-all": {}}}}
    with pytest.raises(ValueError):
        Renamer("(", "x")


def test_metadata_the_target_cannot_take_is_skipped_and_said(conn, http, names, search):
    from restores.load import load_cluster_metadata

    params = LoadParams()

    def load(cluster_meta):  # the metadata step of load_snapshot (a snapshot without indices does not restore)
        return load_cluster_metadata(conn, cluster_meta, params, Renamer())

    managed, pipeline = names("managed"), names("pipeline")
    processors = [{"set": {"field": "x", "value": 1}}]
    try:
        md = load({
            "ingest_pipelines": {"items": {pipeline: {"processors": processors}}},
            "lifecycle_policies": {"items": {"hot-warm": {"policy": {"phases": {}}}}, "flavor": "ilm_policies"},
            "component_templates": {"unsupported": "elasticsearch 7.1: no handler"},
            "index_templates": {"items": {managed: {"index_patterns": ["zz-*"], "_meta": {"managed": True}}}},
            "legacy_templates": {"items": {}},
        })
        assert md["index_templates"][managed] == "skipped: managed by the cluster"
        assert md["component_templates"]["*"].startswith("skipped: unsupported by the source")
        if conn.distribution == "opensearch":
            assert "cannot be restored into opensearch" in md["lifecycle_policies"]["*"]
        elif search.supports("lifecycle"):
            assert md["lifecycle_policies"]["hot-warm"] == "restored"
        else:
            assert md["lifecycle_policies"]["hot-warm"].startswith("skipped: unsupported by the target")
        if search.supports("ingest_pipelines"):
            assert md["ingest_pipelines"][pipeline] == "restored"
            assert http.req("GET", f"/_ingest/pipeline/{pipeline}")[pipeline]["processors"] == processors
        else:
            assert md["ingest_pipelines"][pipeline].startswith("skipped: unsupported by the target"), md
        assert not any(v.startswith("error") for kind in md.values() for v in kind.values())
    finally:
        http.req("DELETE", f"/_ingest/pipeline/{pipeline}", ok=(200, 400, 404))
    # ISM policies: restored where the target has ISM, else unsupported, never an error
    got = load({"lifecycle_policies": {"items": {"rollover": {"policy": {
        "policy_id": "rollover", "states": [], "default_state": "hot",
        "ism_template": [{"index_patterns": ["logs-*"]}]}}}, "flavor": "ism_policies"}})["lifecycle_policies"]
    if conn.distribution == "elasticsearch":
        assert "cannot be restored into elasticsearch" in got["*"]
    elif search.supports("lifecycle"):
        assert got["rollover"] == "restored"
    else:
        assert got["rollover"].startswith("skipped: unsupported by the target"), got


def test_progress_reports_the_restore(conn, http, names, repo):
    idx = names("progress")
    http.create(idx)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(50)])
    m = backup(conn, repo, [idx], metadata_kinds=())
    http.delete(idx)
    events = []
    res = load_snapshot(conn, m, open_stream=lambda n: repo.read_stream(m, n),
                        params=LoadParams(metadata_kinds=(), bulk_bytes=300, workers=1, progress=events.append))
    assert res.ok
    # the index's start, then one event per acknowledged _bulk, counting up, then done
    assert (events[0].phase, events[0].index, events[0].docs, events[0].total) == ("start", idx, 0, 50)
    data = [e for e in events if e.phase == "data"]
    assert len(data) >= 5 and all(a.docs < b.docs and a.bytes < b.bytes for a, b in zip(data, data[1:], strict=False))
    assert data[0].docs < 50 and data[-1].docs == 50 and data[-1].run_docs == 50
    assert events[-1].phase == "done" and events[-1].docs == 50 and events[-1].total == 50
    assert events[-1].bytes > 0 and events[-1].run_docs == 50 and events[-1].run_bytes == events[-1].bytes


def test_a_data_stream_restores_as_one_or_fails_saying_the_target_has_none(conn, http, names, search):
    from tests.fixtures.memrepo import MemRepo

    mem = MemRepo()
    w = mem.writer()
    backing = ".ds-" + names("dslogs") + "-000001"
    ds_name = backing[4:-7]
    w.add_stream(f"indices/{backing}", [b'{"_id":"a","_source":{"@timestamp":"2026-11-25T00:00:00Z"}}\n'],
                 meta={"docs": 1, "data_stream": ds_name, "settings": {}, "mappings": {}, "aliases": {}})
    w.commit()
    m = mem.latest()
    # without a data-stream template the error says to restore one; a server without the
    # data-stream API at all (Elasticsearch from Central: it lives in x-pack) says that
    res = load_snapshot(conn, m, open_stream=lambda n: mem.read_stream(m, n),
                        params=LoadParams(include=[ds_name], metadata_kinds=()))
    has_api = search.supports("data_streams") or search.kind == "osmem"
    assert not res.ok
    assert ("index template" if has_api else "has no data streams") in res.indices[backing]["error"]
    tpl = names("dstpl")
    http.req("PUT", f"/_index_template/{tpl}", {"index_patterns": [ds_name], "data_stream": {}, "priority": 900})
    try:
        res = load_snapshot(conn, m, open_stream=lambda n: mem.read_stream(m, n),
                            params=LoadParams(include=[ds_name], metadata_kinds=()))
        entry = res.indices[backing]
        if search.supports("data_streams"):
            assert res.ok, entry
            assert http.count(ds_name) == 1
            assert http.req("GET", f"/_data_stream/{ds_name}")["data_streams"][0]["name"] == ds_name
        else:
            assert not res.ok and entry["status"] == "Failed"
            assert "has no data streams" in entry["error"] and ds_name in entry["error"]
    finally:
        http.req("DELETE", f"/_data_stream/{ds_name}", ok=(200, 400, 404, 405))
        http.req("DELETE", f"/_index_template/{tpl}", ok=(200, 404))


def test_settings_another_distribution_refuses_are_dropped_and_said(conn, http, names, search):
    # an Elasticsearch snapshot (ILM setting) restored into a server that does not know it
    from tests.fixtures.memrepo import MemRepo

    src = names("crossdist")
    mem = MemRepo()
    w = mem.writer()
    settings = {"index": {"number_of_shards": "2", "number_of_replicas": "1", "uuid": "x", "creation_date": "1",
                          "provided_name": src, "version": {"created": "8150099"},
                          "lifecycle": {"name": "hot-warm", "rollover_alias": "a"}, "refresh_interval": "5s"}}
    w.add_stream(f"indices/{src}", [b'{"_id":"1","_source":{"a":1}}\n', b'{"_id":"2","_source":{"a":2}}\n'],
                 meta={"docs": 2, "settings": settings, "mappings": {"properties": {"a": {"type": "long"}}},
                       "aliases": {}})
    w.commit()
    m = mem.latest()
    res = load_snapshot(conn, m, open_stream=lambda n: mem.read_stream(m, n), params=LoadParams(metadata_kinds=()))
    assert res.ok, res.indices
    assert res.indices[src]["count"] == 2
    st = http.req("GET", f"/{src}/_settings")[src]["settings"]["index"]
    assert st["number_of_shards"] == "2" and st["refresh_interval"] == "5s" and st["number_of_replicas"] == "1"
    if not search.supports("lifecycle"):  # index.lifecycle.* needs ILM: refused, dropped, said
        assert any("index.lifecycle" in x and "dropped" in x for x in res.warnings), res.warnings
        assert "lifecycle" not in st


def test_a_bulk_too_large_for_the_server_is_split(cluster_url, http, names, repo, proxy):
    idx = names("toolarge")
    http.create(idx)
    http.bulk(idx, [(str(i), b'{"n":%d,"pad":"%s"}' % (i, b"z" * 100), None) for i in range(40)])
    c = connect(ClusterConfig(urls=[proxy.url]))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    sizes = []

    def limit(method, path, body):
        if "_bulk" in path:
            sizes.append(len(body))
            if len(body) > 1500:
                return 413, b'{"error":{"type":"content_too_long","reason":"too long"},"status":413}'
        return None

    proxy.rule = limit
    res = load_snapshot(c, m, open_stream=lambda n: repo.read_stream(m, n),
                        params=LoadParams(metadata_kinds=(), bulk_bytes=1_000_000))
    assert res.ok, res.indices
    assert res.indices[idx]["count"] == 40 and max(sizes) > 1500


@pytest.mark.search_features("data_streams")
def test_a_data_stream_is_backed_up_and_restored_as_a_data_stream(conn, http, names, repo):
    ds, tpl = names("dsround"), names("dsroundtpl")
    http.req("PUT", f"/_index_template/{tpl}", {
        "index_patterns": [ds], "data_stream": {}, "priority": 900,
        "template": {"mappings": {"properties": {"@timestamp": {"type": "date"}, "n": {"type": "long"}}}}})

    def add(first: int, n: int) -> None:
        lines = b"".join(b'{"create":{}}\n' + orjson.dumps({"@timestamp": "2026-11-25T00:00:00Z", "n": i}) + b"\n"
                         for i in range(first, first + n))
        r = http.req("POST", f"/{ds}/_bulk?refresh=true", raw=lines, ctype="application/x-ndjson")
        assert not r["errors"], r

    try:
        add(0, 30)
        http.req("POST", f"/{ds}/_rollover")
        add(30, 20)
        backing = [i["index_name"] for i in http.req("GET", f"/_data_stream/{ds}")["data_streams"][0]["indices"]]
        assert len(backing) == 2
        m = backup(conn, repo, [ds], metadata_kinds=("index_templates",))
        assert {s.removeprefix("indices/") for s in m.streams if s.startswith("indices/")} == set(backing)
        assert m.meta["cluster_metadata"]["data_streams"]["items"][ds]["indices"] == backing
        http.req("DELETE", f"/_data_stream/{ds}")
        http.req("DELETE", f"/_index_template/{tpl}")

        res = restore(conn, repo, m, include=[ds], metadata_kinds=("index_templates",))
        assert res.ok, (res.indices, res.metadata)
        got = http.req("GET", f"/_data_stream/{ds}")["data_streams"][0]
        assert got["name"] == ds and got["template"] == tpl
        assert http.count(ds) == 50
        hits = http.req("POST", f"/{ds}/_search", {"size": 0, "aggs": {"n": {"sum": {"field": "n"}}}})
        assert hits["aggregations"]["n"]["value"] == sum(range(50))
    finally:
        http.req("DELETE", f"/_data_stream/{ds}", ok=(200, 404))
        http.req("DELETE", f"/_index_template/{tpl}", ok=(200, 404))


@pytest.mark.search_features("data_streams")
def test_the_wizards_preview_of_a_data_stream_names_what_the_load_restores(conn, http, names, repo):
    from restores import rules

    ds, tpl = names("dsprev"), names("dsprevtpl")
    http.req("PUT", f"/_index_template/{tpl}", {"index_patterns": [f"{ds}*"], "data_stream": {}, "priority": 900})
    try:
        http.req("POST", f"/{ds}/_doc?refresh=true", {"@timestamp": "2026-11-25T00:00:00Z", "n": 1})
        http.req("POST", f"/{ds}/_rollover")
        http.req("POST", f"/{ds}/_doc?refresh=true", {"@timestamp": "2026-11-25T00:00:01Z", "n": 2})
        with repo.writer(meta={"configuration": "test"}) as w:
            dumped = dump_cluster(conn, w, DumpParams(include=[ds], metadata_kinds=()))
            assert dumped.ok, dumped.indices
            w.commit(meta={"cluster_metadata": dumped.cluster_meta, "status": "Succeeded"})
        m = repo.manifest("latest")
        # the preview reads the Snapshot row (components["dump"] is dumped.indices), the load the manifest
        rename = Renamer(f"^(.*){re.escape(ds)}", rf"\g<1>{ds}-r")
        preview = rules.choose(rules.facts_from_dump(dumped.indices), [ds], [], rename)
        assert len(preview) == 2 and {c.data_stream for c in preview} == {f"{ds}-r"}
        res = restore(conn, repo, m, include=[ds], metadata_kinds=(), rename_pattern=rename.pattern,
                      rename_replacement=rename.replacement)
        assert res.ok, res.indices
        assert sorted(res.indices) == [c.target for c in preview]
        assert {e["data_stream"] for e in res.indices.values()} == {f"{ds}-r"} and http.count(f"{ds}-r") == 2
    finally:
        for name in (ds, f"{ds}-r"):
            http.req("DELETE", f"/_data_stream/{name}", ok=(200, 404))
        http.req("DELETE", f"/_index_template/{tpl}", ok=(200, 404))


# -- one index failing does not take the others down (issue 13, point 6) --------------
def _small_chunk_repo(tmp_path):
    from storage.backends import open_backend
    from storage.repo import Repository

    backend = open_backend("local", root=str(tmp_path / "small-chunks"))
    return Repository.init(backend, "pw", name="small-chunks", kdf="scrypt",
                           kdf_params={"n": 1024, "r": 8, "p": 1}, chunker=(4096, 8192, 16384))


def _three_indices(http, names):
    idx = [names("pf-a"), names("pf-b"), names("pf-c")]
    for name in idx:
        http.create(name, settings={"refresh_interval": "5s"})
        http.bulk(name, [(f"d{i}", b'{"n":%d,"pad":"%s"}' % (i, os.urandom(60).hex().encode()), None)
                         for i in range(400)])
    return idx


def _corrupt(repo, chunk_id):
    from tests.storage.damage import corrupt_chunk

    corrupt_chunk(repo, chunk_id, at=-5)


@pytest.mark.parametrize("on_failure", ["keep", "delete"])
def test_a_corrupt_chunk_fails_its_index_only_and_the_partial_index_is_put_right(conn, http, names, tmp_path,
                                                                                 on_failure):
    repo = _small_chunk_repo(tmp_path)
    a, b, c = _three_indices(http, names)
    m = backup(conn, repo, [a, b, c], metadata_kinds=())
    chunks = m.streams[f"indices/{b}"].chunks
    assert len(chunks) >= 4
    _corrupt(repo, chunks[-2])
    for name in (a, b, c):
        http.delete(name)
    res = restore(conn, repo, m, metadata_kinds=(), bulk_bytes=8000, on_index_failure=on_failure)
    assert not res.ok
    assert [res.indices[n]["status"] for n in (a, b, c)] == ["Succeeded", "Failed", "Succeeded"]
    assert http.count(a) == 400 and http.count(c) == 400  # the index after the broken one was restored
    e = res.indices[b]
    assert chunks[-2] in e["error"] and f"indices/{b}" in e["error"] and e["partial"] is True
    assert 0 < e["docs"] < 400 and e["bytes"] > 0
    assert res.indices[a]["docs"] == 400 and res.indices[a]["bytes"] > 0
    if on_failure == "keep":
        assert e["left"] == "kept" and "kept" in e["error"]
        st = http.req("GET", f"/{b}/_settings")[b]["settings"]["index"]
        assert st["refresh_interval"] == "5s" and st["number_of_replicas"] == "0"
        assert http.count(b) == e["docs"]
    else:
        assert e["left"] == "deleted" and "deleted" in e["error"]
        http.req("HEAD", f"/{b}", ok=(404,))


def test_a_cluster_outage_in_the_middle_of_one_index_fails_that_index_only(cluster_url, http, names, tmp_path, proxy):
    repo = _small_chunk_repo(tmp_path)
    a, b, c = _three_indices(http, names)
    direct = connect(ClusterConfig(urls=[cluster_url]))
    m = backup(direct, repo, [a, b, c], metadata_kinds=())
    for name in (a, b, c):
        http.delete(name)
    seen = {"bulk": 0}
    lock = threading.Lock()

    def outage(method, path, body):
        # the cluster answers 503 to every bulk into b after its third one
        if f"/{b}/_bulk" not in path:
            return None
        with lock:
            seen["bulk"] += 1
            if seen["bulk"] > 3:
                return 503, b'{"error":{"type":"unavailable","reason":"node gone"},"status":503}'
        return None

    proxy.rule = outage
    c_ = connect(ClusterConfig(urls=[proxy.url], backoff_base=0.001, backoff_max=0.005, max_retries=2))
    res = load_snapshot(c_, m, open_stream=lambda n: repo.read_stream(m, n),
                        params=LoadParams(metadata_kinds=(), bulk_bytes=8000, workers=1))
    assert [res.indices[n]["status"] for n in (a, b, c)] == ["Succeeded", "Failed", "Succeeded"]
    e = res.indices[b]
    assert "503" in e["error"] and e["partial"] is True and e["left"] == "kept"
    assert 0 < e["docs"] < 400
    assert http.count(a) == 400 and http.count(c) == 400
    st = http.req("GET", f"/{b}/_settings")[b]["settings"]["index"]
    assert st["refresh_interval"] == "5s"


def test_replicas_given_as_the_integer_0_stay_0(conn, http, names):
    from tests.fixtures.memrepo import MemRepo

    idx = names("intreplicas")
    mem = MemRepo()
    w = mem.writer()
    w.add_stream(f"indices/{idx}", [b'{"_id":"1","_source":{"a":1}}\n'],
                 meta={"docs": 1, "settings": {"index": {"number_of_shards": 1, "number_of_replicas": 0}},
                       "mappings": {}, "aliases": {}})
    w.commit()
    m = mem.latest()
    res = load_snapshot(conn, m, open_stream=lambda n: mem.read_stream(m, n), params=LoadParams(metadata_kinds=()))
    assert res.ok, res.indices
    assert http.req("GET", f"/{idx}/_settings")[idx]["settings"]["index"]["number_of_replicas"] == "0"


@pytest.mark.slow
def test_a_node_that_rejects_for_load_gets_fewer_bulks_at_once_and_the_restore_is_complete(conn, http, names, repo,
                                                                                        search):
    """A real node with one write thread and a queue of one answers `es_rejected_execution`
    (429) items as soon as more than two shard writes overlap: eight senders at once would
    burn their retries; the window halves instead and the restore finishes complete."""
    if not search.is_real:
        pytest.skip("needs a real engine's write thread pool")
    from tests.fixtures.elastic import Http
    from tests.peers.searchnode import start_search_node

    src = names("rejects")
    http.create(src, shards=2)
    for k in range(6):
        http.bulk(src, [(f"d{i}", b'{"n":%d,"pad":"%s"}' % (i, b"z" * 300), None) for i in range(k * 500, k * 500 + 500)])
    m = backup(conn, repo, [src], metadata_kinds=())
    with start_search_node(search.kind, settings={"thread_pool.write.size": "1",
                                                  "thread_pool.write.queue_size": "1"}) as node:
        tiny = connect(ClusterConfig(urls=[node.url], backoff_base=0.02, backoff_max=0.2))
        res = restore(tiny, repo, m, metadata_kinds=(), workers=8, bulk_bytes=40_000, max_item_retries=4)
        e = res.indices[src]
        assert res.ok and e["count"] == 3000 and e["failed"] == 0, e
        assert e["backoffs"] >= 1 and e["fewest_senders"] <= 2, e
        assert len(read_index(tiny, src)) == 3000
        pools = Http(node.url).req("GET", "/_nodes/stats/thread_pool")["nodes"]
        assert sum(n["thread_pool"]["write"]["rejected"] for n in pools.values()) > 0


@pytest.mark.search_kinds(ONE_KIND)  # what the load asks the server for, and when
def test_the_first_bulk_is_read_while_the_index_is_created(http, names, repo, proxy):
    """The stream's first chunks are read and its first bulk built while the target index
    is created, not after; an index whose settings the load kept (no replicas, the
    default refresh) gets no settings request at the end."""
    idx = names("ahead")
    http.create(idx, settings={"number_of_replicas": 0})
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(50)])
    c = connect(ClusterConfig(urls=[proxy.url]))
    m = backup(c, repo, [idx], metadata_kinds=())
    http.delete(idx)
    read = threading.Event()
    during_create = []

    def stream(name):
        for part in repo.read_stream(m, name):
            read.set()
            yield part

    def look(method, path, body):
        if method == "PUT" and path.split("?")[0] == f"/{idx}":
            during_create.append(read.wait(10))
        return None

    proxy.rule = look
    res = load_snapshot(c, m, open_stream=stream, params=LoadParams(metadata_kinds=()))
    assert res.ok and res.indices[idx]["count"] == 50, res.indices
    assert during_create == [True]
    assert not [r for r in proxy.requests if r[0] == "PUT" and "/_settings" in r[1]], proxy.requests
