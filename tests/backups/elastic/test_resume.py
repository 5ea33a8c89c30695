"""A dump resumed from the checkpoint of an interrupted run (issue 16.3): finished streams
are taken over while their index's fingerprint holds, a point-in-time read continues from
each slice's checkpointed search_after, and the result is the index, no more, no less."""
from __future__ import annotations

import threading

import pytest

from backups.elastic.dump import DumpParams, dump_cluster
from storage.repo import writer as writer_module

KEY = "configuration/full"


class Crash(Exception):
    """Stands for the worker dying mid-read."""


def docs(n: int, start: int = 0) -> list[tuple[str, bytes, None]]:
    return [(f"d{i}", b'{"n":%d,"pad":"%s"}' % (i, b"x" * 60), None) for i in range(start, start + n)]


def lines_of(repo, snapshot_id, index):  # type: ignore[no-untyped-def]
    return sorted(b"".join(repo.read_stream(snapshot_id, f"indices/{index}")).splitlines())


@pytest.mark.search_kinds("osmem")  # the checkpoint's rules, whatever the server
def test_finished_streams_are_taken_over_unless_their_index_changed(conn, http, names, repo):
    a, b, c = names("a"), names("b"), names("c")
    for name in (a, b, c):
        http.create(name)
        http.bulk(name, docs(20))
    cancel = threading.Event()

    def stop_after_b(event):  # type: ignore[no-untyped-def]
        if event.index == b and event.phase == "done":
            cancel.set()

    params = DumpParams(include=[a, b, c], metadata_kinds=(), parallel_indices=1)   # one at a time: c after b
    with repo.writer(checkpoint=KEY) as w:
        first = dump_cluster(conn, w, params, progress=stop_after_b, cancel=cancel)
    assert first.indices[c]["error"] == "cancelled" and repo.snapshot_ids() == []
    http.bulk(a, docs(1, start=100))   # a changed since: its fingerprint no longer matches
    point = repo.resume_point(KEY)
    assert sorted(point.streams) == [f"indices/{a}", f"indices/{b}"]
    with repo.writer(checkpoint=KEY) as w:
        second = dump_cluster(conn, w, params, resume=point)
        snapshot_id = w.commit(meta={"status": "Succeeded"})
    assert second.ok
    assert second.indices[a]["docs_read"] == 21 and "resumed_from" not in second.indices[a]
    assert second.indices[b]["docs_read"] == 0 and second.indices[b]["resumed_from"] == point.short_id
    assert second.indices[b]["docs"] == 20 and second.indices[c]["docs_read"] == 20
    taken = repo.manifest(snapshot_id).streams[f"indices/{b}"].meta
    assert taken["resumed_from"] == point.id and taken["digest"] == point.streams[f"indices/{b}"].meta["digest"]
    assert len(lines_of(repo, snapshot_id, a)) == 21 and repo.checkpoints() == []


@pytest.mark.search_kinds("elasticsearch-8", "opensearch-2")  # point in time with search_after
def test_a_point_in_time_read_resumes_from_each_slices_position(conn, http, names, repo, monkeypatch, search):
    monkeypatch.setattr(writer_module, "SEGMENT_BYTES", 20_000)
    shards = 3 if search.distribution == "elasticsearch" else 1   # OpenSearch pages one shard exactly only
    big = names("big")
    http.create(big, shards=shards)
    for start in range(0, 6000, 2000):
        http.bulk(big, docs(2000, start))
    params = DumpParams(include=[big], metadata_kinds=(), read_mode="pit", batch_size=100)

    def crash_halfway(event):  # type: ignore[no-untyped-def]
        if event.phase == "data" and event.docs >= 3000:
            raise Crash()

    w = repo.writer(checkpoint=KEY)
    with pytest.raises(Crash):
        dump_cluster(conn, w, params, progress=crash_halfway)
    w.checkpoint.flush()
    w.lock.release()    # as a killed worker's lock ends: it goes stale
    point = repo.resume_point(KEY)
    partial = point.partial[f"indices/{big}"]
    assert 2000 <= partial.position["docs"] <= 3000 and len(partial.position["after"]) == min(shards, 4)
    with repo.writer(checkpoint=KEY) as w:
        res = dump_cluster(conn, w, params, resume=point)
        snapshot_id = w.commit(meta={"status": "Succeeded"})
    entry = res.indices[big]
    assert res.ok and entry["docs"] == 6000 and entry["resumed_from"] == point.short_id
    assert entry["docs_read"] == 6000 - partial.position["docs"] <= 4000
    with repo.writer() as w:   # the same index dumped in one go holds the same lines
        dump_cluster(conn, w, params)
        whole = w.commit(meta={"status": "Succeeded"})
    assert lines_of(repo, snapshot_id, big) == lines_of(repo, whole, big)
    digest = repo.manifest(snapshot_id).streams[f"indices/{big}"].meta["digest"]   # the prefix's went on
    assert digest == repo.manifest(whole).streams[f"indices/{big}"].meta["digest"] == entry["digest"]
    assert repo.check(read_data=True).ok
