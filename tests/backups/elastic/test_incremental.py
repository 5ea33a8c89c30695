"""Incremental dumps (issue 18): a changed index read as a delta of the previous snapshot
(backups/elastic/incremental.py), composed in the repository, and read back whole: after
every change the newest snapshot holds exactly the index's documents."""
from __future__ import annotations

import threading
from typing import Any

import pytest

from backups.elastic.dump import DumpParams, dump_cluster
from restores.load import LoadParams, load_snapshot
from storage.repo import RetentionRules
from tests.fixtures.memrepo import MemRepo

# an engine with working `_seq_no` range queries (osmem-server answers them with no hits)
REAL = ("elasticsearch-8", "opensearch-2", "opensearch-3")


def docs(n: int, start: int = 0, tag: str = "v1", routing: str | None = None) -> list[tuple[str, bytes, str | None]]:
    return [(f"d{i}", b'{"n":%d,"tag":"%s","pad":"%s"}' % (i, tag.encode(), b"x" * 40), routing)
            for i in range(start, start + n)]


def backup(conn: Any, repo: Any, index: str, **kw: Any) -> tuple[str, dict[str, Any]]:
    prev = repo.latest()
    params = DumpParams(include=[index], metadata_kinds=(), incremental_max_fraction=kw.pop("fraction", 1.0), **kw)
    with repo.writer() as w:
        res = dump_cluster(conn, w, params, previous=prev,
                           read_previous=lambda name: repo.read_stream(prev or "latest", name))
        assert res.ok, res.indices
        sid = w.commit(meta={"status": "Succeeded"})
    return sid, dict(res.indices[index])


def source_lines(conn: Any, index: str) -> list[bytes]:
    """The index's documents now, as dump lines (a full read), sorted."""
    mem = MemRepo()
    w: Any = mem.writer()
    res = dump_cluster(conn, w, DumpParams(include=[index], metadata_kinds=(), skip_unchanged=False))
    assert res.ok, res.indices
    w.commit()
    return sorted(b"".join(mem.read_stream("latest", f"indices/{index}")).splitlines())


def assert_snapshot_is_the_index(conn: Any, repo: Any, sid: str, index: str) -> None:
    """Document by document, the routing part of a document's identity."""
    got = sorted(b"".join(repo.read_stream(sid, f"indices/{index}")).splitlines())
    want = source_lines(conn, index)
    assert len(got) == len(want)
    assert got == want
    assert repo.manifest(sid).streams[f"indices/{index}"].meta["docs"] == len(want)


def refresh(http: Any, index: str) -> None:
    http.req("POST", f"/{index}/_refresh")


@pytest.mark.search_kinds(*REAL)
def test_updates_deletes_reindexed_ids_and_routing_changes_are_read_as_a_delta(conn, http, names, repo):
    idx = names("incr")
    http.create(idx, shards=3)
    http.bulk(idx, docs(300))
    sid, first = backup(conn, repo, idx)
    assert first["mode"] == "full" and first["reason"] == "no previous snapshot"
    http.bulk(idx, docs(5, start=10, tag="v2"))                      # updated in place
    for i in (20, 21, 22):                                           # deleted
        http.req("DELETE", f"/{idx}/_doc/d{i}")
    http.req("DELETE", f"/{idx}/_doc/d30")                           # deleted, then indexed again
    http.bulk(idx, docs(1, start=30, tag="again"))
    http.req("DELETE", f"/{idx}/_doc/d40")                           # moved to a routing
    http.bulk(idx, docs(1, start=40, tag="routed", routing="r1"))
    http.bulk(idx, docs(1, start=41, tag="twin", routing="r2"))      # the same _id under a second routing
    http.bulk(idx, docs(20, start=1000))                             # added
    refresh(http, idx)
    sid, second = backup(conn, repo, idx)
    assert second["mode"] == "incremental", second.get("reason")
    assert second["docs_deleted"] == 4                               # d20-22, d40 without routing
    assert second["docs_read"] < 150                                 # the delta, not the 300
    assert second["docs"] == 300 - 4 + 1 + 1 + 20
    assert_snapshot_is_the_index(conn, repo, sid, idx)
    # found from doc values, not by reading every document's _id
    assert repo.manifest(sid).streams[f"indices/{idx}"].meta["deletions_from"] == "seqs"
    http.bulk(idx, docs(4, start=60, tag="v4"))                      # no delete
    http.bulk(idx, docs(2, start=2000))
    refresh(http, idx)
    sid, update_only = backup(conn, repo, idx)
    assert update_only["mode"] == "incremental" and update_only["docs_deleted"] == 0
    meta = repo.manifest(sid).streams[f"indices/{idx}"].meta
    assert meta["deletions_from"] == "seqs"
    assert all(meta["composed"]["seqs"])
    assert_snapshot_is_the_index(conn, repo, sid, idx)
    http.req("DELETE", f"/{idx}/_doc/d1000")
    http.bulk(idx, docs(2, start=50, tag="v3"))
    refresh(http, idx)
    sid, third = backup(conn, repo, idx)
    assert third["mode"] == "incremental" and third["docs_deleted"] == 1
    assert_snapshot_is_the_index(conn, repo, sid, idx)
    sid, fourth = backup(conn, repo, idx)
    assert fourth["mode"] == "unchanged"
    assert_snapshot_is_the_index(conn, repo, sid, idx)
    check = repo.check(read_data=True)
    assert check.ok, check.problems
    assert_restore_is_the_index(conn, repo, sid, idx, names("restored"))


def assert_restore_is_the_index(conn: Any, repo: Any, sid: str, index: str, target: str) -> None:
    manifest = repo.manifest(sid)
    res = load_snapshot(conn, manifest, lambda name: repo.read_stream(manifest, name),
                        LoadParams(include=[index], rename_pattern="^.*$", rename_replacement=target, metadata_kinds=()))
    assert res.ok, res.indices
    assert res.indices[target]["docs"] == manifest.streams[f"indices/{index}"].meta["docs"]
    assert source_lines(conn, target) == source_lines(conn, index)


@pytest.mark.search_kinds(*REAL)
def test_a_snapshot_in_between_removed_by_retention_and_prune_leaves_the_newest_whole(conn, http, names, repo):
    idx = names("chain")
    http.create(idx, shards=2)
    http.bulk(idx, docs(200))
    backup(conn, repo, idx)
    for round_ in range(3):
        http.bulk(idx, docs(3, start=round_ * 10, tag=f"r{round_}"))
        http.req("DELETE", f"/{idx}/_doc/d{100 + round_}")
        refresh(http, idx)
        sid, entry = backup(conn, repo, idx)
        assert entry["mode"] == "incremental", entry.get("reason")
    removed = repo.forget(RetentionRules(last=1))
    assert len(removed.remove) == 3
    repo.prune()
    assert repo.check(read_data=True).ok
    assert_snapshot_is_the_index(conn, repo, sid, idx)


@pytest.mark.search_kinds("elasticsearch-8")
def test_unsafe_changes_force_a_full_read_that_says_why(conn, http, names, repo):
    idx = names("unsafe")
    http.create(idx, shards=2, mappings={"properties": {"tag": {"type": "keyword"}}})
    http.bulk(idx, docs(100))
    backup(conn, repo, idx)
    http.bulk(idx, docs(1, tag="m"))
    http.req("PUT", f"/{idx}/_mapping", {"properties": {"extra": {"type": "keyword"}}})
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "full" and entry["reason"] == "mappings changed"
    http.bulk(idx, docs(1, tag="n"))
    refresh(http, idx)
    _, entry = backup(conn, repo, idx, chain_length=2)
    assert entry["mode"] == "incremental"
    http.bulk(idx, docs(1, tag="o"))
    refresh(http, idx)
    _, entry = backup(conn, repo, idx, chain_length=2)
    assert entry["mode"] == "full" and entry["reason"] == "chain length 2 reached"
    http.bulk(idx, docs(50, tag="p"))
    refresh(http, idx)
    _, entry = backup(conn, repo, idx, fraction=0.2)
    assert entry["mode"] == "full" and entry["reason"].startswith("delta too large")
    http.delete(idx)
    http.create(idx, shards=2, mappings={"properties": {"tag": {"type": "keyword"}, "extra": {"type": "keyword"}}})
    http.bulk(idx, docs(10, tag="new"))
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "full" and entry["reason"] == "new index uuid (deleted and created again)"
    assert_snapshot_is_the_index(conn, repo, sid, idx)


@pytest.mark.search_kinds("osmem")
def test_a_server_whose_seq_no_range_finds_nothing_is_read_in_full(conn, http, names, repo):
    idx = names("osmem")
    http.create(idx, shards=2)
    http.bulk(idx, docs(50))
    backup(conn, repo, idx)
    http.bulk(idx, docs(2, tag="v2"))     # no delete: osmem's max_seq_no (live docs - 1) would go back
    http.bulk(idx, docs(3, start=50))
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "full"
    assert entry["reason"].startswith("the server's range query on _seq_no does not work"), entry
    assert "composed" not in repo.manifest(sid).streams[f"indices/{idx}"].meta
    assert_snapshot_is_the_index(conn, repo, sid, idx)


@pytest.mark.search_kinds("elasticsearch-8")
def test_an_interrupted_run_takes_over_a_finished_delta_with_its_layers(conn, http, names, repo):
    a, b = names("resume-a"), names("resume-b")
    for name in (a, b):
        http.create(name, shards=2)
        http.bulk(name, docs(100))
    key = "configuration/incremental"
    backup(conn, repo, a)   # a alone first: b is new to the next run
    prev = repo.latest()
    http.bulk(a, docs(3, tag="v2"))
    http.req("DELETE", f"/{a}/_doc/d50")
    refresh(http, a)
    cancel = threading.Event()

    def stop_after_a(event: Any) -> None:
        if event.index == a and event.phase == "done":
            cancel.set()

    params = DumpParams(include=[a, b], metadata_kinds=(), parallel_indices=1, incremental_max_fraction=1.0)
    with repo.writer(checkpoint=key) as w:
        first = dump_cluster(conn, w, params, previous=prev, progress=stop_after_a, cancel=cancel,
                             read_previous=lambda name: repo.read_stream(prev, name))
    assert first.indices[a]["mode"] == "incremental" and first.indices[b]["error"] == "cancelled"
    point = repo.resume_point(key)
    with repo.writer(checkpoint=key) as w:
        second = dump_cluster(conn, w, params, previous=prev, resume=point,
                              read_previous=lambda name: repo.read_stream(prev, name))
        sid = w.commit(meta={"status": "Succeeded"})
    assert second.ok, second.indices
    assert second.indices[a]["resumed_from"] == point.short_id and second.indices[a]["mode"] == "incremental"
    assert second.indices[a]["docs_read"] == 0
    assert_snapshot_is_the_index(conn, repo, sid, a)
    assert_snapshot_is_the_index(conn, repo, sid, b)
    assert repo.check(read_data=True).ok


@pytest.mark.search_kinds("elasticsearch-8")
def test_an_id_list_of_several_runs_is_merged(conn, http, names, repo, monkeypatch):
    from backups.elastic import incremental

    monkeypatch.setattr(incremental, "RUN_RECORDS", 64)   # a run is cut after the page that fills it
    idx = names("runs")
    http.create(idx, shards=2)
    http.bulk(idx, docs(300))
    sid, _ = backup(conn, repo, idx, batch_size=40)
    runs = repo.manifest(sid).streams[f"indices/{idx}"].meta["id_list"]
    assert len(runs) >= 4
    http.bulk(idx, docs(3, start=100, tag="v2"))
    http.req("DELETE", f"/{idx}/_doc/d7")
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "incremental" and entry["docs_deleted"] == 1
    assert_snapshot_is_the_index(conn, repo, sid, idx)


def _one_delete_backed_up(conn: Any, http: Any, repo: Any, idx: str) -> tuple[str, dict[str, Any]]:
    """Two documents updated and one deleted, then an incremental backup: its id and its stream's meta."""
    http.bulk(idx, docs(2, tag="v2"))
    http.req("DELETE", f"/{idx}/_doc/d9")
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "incremental" and entry["docs_deleted"] == 1
    return sid, repo.manifest(sid).streams[f"indices/{idx}"].meta


@pytest.mark.search_kinds("elasticsearch-8", "opensearch-2")
def test_a_snapshot_without_sequence_lists_is_read_as_a_delta_by_its_ids(conn, http, names, repo, monkeypatch):
    """A repository written before sequence lists (or by a read that could not tell each
    document's shard): the ids read finds the deletions, until a full read writes the lists."""
    from backups.elastic.reader import Reader

    idx = names("older")
    http.create(idx, shards=2)
    http.bulk(idx, docs(120))
    with monkeypatch.context() as m:
        m.setattr(Reader, "labels", property(lambda self: False))
        sid, _ = backup(conn, repo, idx)
    assert "seq_list" not in repo.manifest(sid).streams[f"indices/{idx}"].meta
    sid, meta = _one_delete_backed_up(conn, http, repo, idx)
    assert meta["deletions_from"] == "ids" and meta["composed"]["seqs"] == [None, None]
    assert_snapshot_is_the_index(conn, repo, sid, idx)
    http.req("DELETE", f"/{idx}/_doc/d10")
    refresh(http, idx)
    _, entry = backup(conn, repo, idx, chain_length=2)   # the full read writes the lists again
    assert entry["mode"] == "full"
    http.req("DELETE", f"/{idx}/_doc/d11")
    http.bulk(idx, docs(1, start=12, tag="v3"))
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "incremental" and entry["docs_deleted"] == 1
    assert repo.manifest(sid).streams[f"indices/{idx}"].meta["deletions_from"] == "seqs"
    assert_snapshot_is_the_index(conn, repo, sid, idx)


@pytest.mark.search_kinds(*REAL)
def test_writes_between_the_live_scan_and_the_delta_read_leave_each_document_once(conn, http, names, repo,
                                                                                   monkeypatch):
    """On a scroll (OpenSearch) the documents live now are asked before the delta's view is
    made: a document updated in between is live there in its old version and in the delta in
    its new one, and is kept once, new. In a point in time (Elasticsearch) both are one view."""
    from backups.elastic import incremental

    idx = names("between")
    http.create(idx, shards=2)
    http.bulk(idx, docs(150))
    backup(conn, repo, idx)
    http.req("DELETE", f"/{idx}/_doc/d3")
    http.bulk(idx, docs(1, start=4, tag="v2"))
    refresh(http, idx)
    real = incremental.find_gone
    before: list[bytes] = []

    def then_write(*args: Any) -> Any:
        gone = real(*args)
        if not before:
            before.extend(source_lines(conn, idx))
            http.bulk(idx, docs(1, start=5, tag="between"))     # updated
            http.bulk(idx, docs(1, start=500, tag="between"))   # added
            http.req("DELETE", f"/{idx}/_doc/d6")               # deleted
            refresh(http, idx)
        return gone

    monkeypatch.setattr(incremental, "find_gone", then_write)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "incremental", entry.get("reason")
    got = sorted(b"".join(repo.read_stream(sid, f"indices/{idx}")).splitlines())
    ids = [line.split(b'"_source"')[0] for line in got]
    assert len(ids) == len(set(ids))                          # no document twice
    if conn.distribution == "elasticsearch":
        assert got == sorted(before)                          # the point in time's view, exactly
    else:
        now = source_lines(conn, idx)
        assert [x for x in got if b"d6" not in x] == [x for x in now if b"d6" not in x]
    monkeypatch.setattr(incremental, "find_gone", real)
    http.bulk(idx, docs(1, start=7, tag="v3"))
    refresh(http, idx)
    sid, entry = backup(conn, repo, idx)
    assert entry["mode"] == "incremental"
    assert_snapshot_is_the_index(conn, repo, sid, idx)


@pytest.mark.search_kinds(*REAL)
def test_an_index_larger_than_the_spool_bound_finds_deletions_by_its_sequence_lists_in_bounded_memory(
        conn, http, names, repo, monkeypatch):
    """A sequence list is never held whole (seqs.SPOOL_LINES): written through a temporary
    file, compared one range of `_seq_no` values at a time, so an index of any size keeps its
    list and its deletions are found from doc values."""
    from backups.elastic import incremental, seqs

    idx = names("large")
    http.create(idx, shards=2)
    http.bulk(idx, docs(300))
    monkeypatch.setattr(seqs, "SPOOL_LINES", 16)
    sid, _ = backup(conn, repo, idx, batch_size=40)
    assert repo.manifest(sid).streams[f"indices/{idx}"].meta["seq_list"]
    real, found = incremental.find_gone, []

    def kept(*args: Any) -> Any:
        found.append(real(*args))
        return found[-1]

    monkeypatch.setattr(incremental, "find_gone", kept)
    for round_ in range(2):
        http.bulk(idx, docs(5, start=100 * round_, tag=f"v{round_}"))     # updated
        http.bulk(idx, docs(3, start=1000 + 10 * round_))                  # added
        for i in (50 + round_, 150 + round_, 250 + round_):               # deleted, in every range
            http.req("DELETE", f"/{idx}/_doc/d{i}")
        refresh(http, idx)
        sid, entry = backup(conn, repo, idx, batch_size=40)
        assert entry["mode"] == "incremental" and entry["docs_deleted"] == 3, entry
        meta = repo.manifest(sid).streams[f"indices/{idx}"].meta
        assert meta["deletions_from"] == "seqs" and all(meta["composed"]["seqs"])
        assert 0 < found[-1].held <= 16 and found[-1].live_below > 100
        assert_snapshot_is_the_index(conn, repo, sid, idx)
