"""The JSON the engine hands to the jobs (Snapshot.components["dump"],
RestoreSession.components["load"]) and writes into the repository (a stream's meta in
the manifest) keeps its keys, in order: the dashboard, exports and older snapshots read
them by name. Typed results inside the engine must serialize to exactly these."""
from __future__ import annotations

import pytest

from backups.elastic.dump import DumpParams, dump_cluster
from restores.load import LoadParams, load_snapshot

pytestmark = pytest.mark.search_kinds("osmem")  # the shape of the results, not the server's behaviour

DUMP_READ = ["docs", "bytes", "duration", "skipped_unchanged", "docs_read", "error", "uuid", "read_mode", "slices",
             "digest", "mode", "reason"]
DUMP_REUSED = ["docs", "bytes", "duration", "skipped_unchanged", "docs_read", "error", "uuid", "mode"]
DUMP_CLOSED = ["docs", "bytes", "duration", "skipped_unchanged", "docs_read", "closed", "error"]
META_READ = ["index", "uuid", "format", "settings", "mappings", "aliases", "fingerprint", "fingerprint_signals",
             "shards", "seq_floor", "docs", "read_mode", "slices", "count_source", "page_docs", "complete", "digest"]
META_REUSED = ["index", "uuid", "format", "settings", "mappings", "aliases", "fingerprint", "fingerprint_signals",
               "shards", "docs", "complete", "reused_from", "read_mode", "count_source", "digest", "seq_floor"]
LOAD_DONE = ["source", "docs", "failed", "failures", "duration", "error", "status", "expected", "bytes", "count"]
LOAD_SKIPPED = ["source", "docs", "failed", "failures", "duration", "error", "status", "expected", "skipped"]
LOAD_PARTWAY = ["source", "docs", "failed", "failures", "duration", "error", "status", "expected", "bytes", "partial",
                "left"]
LOAD_REFUSED = ["source", "docs", "bytes", "failed", "failures", "error", "duration", "status"]


def _backup(conn, repo, include, previous=None):
    with repo.writer(meta={"configuration": "test"}) as w:
        res = dump_cluster(conn, w, DumpParams(include=include, metadata_kinds=()), previous=previous)
        w.commit(meta={"cluster_metadata": res.cluster_meta, "status": "Succeeded"})
    return res, repo.manifest("latest")


def test_dump_results_and_stream_meta_keep_their_keys(conn, http, names, repo):
    idx, closed = names("keys"), names("keys-closed")
    http.create(idx)
    http.bulk(idx, [(str(i), b'{"n":%d}' % i, None) for i in range(5)])
    http.create(closed)
    http.req("POST", f"/{closed}/_close")
    res, m = _backup(conn, repo, [idx, closed])
    assert list(res.indices[idx]) == DUMP_READ
    assert list(res.indices[closed]) == DUMP_CLOSED
    assert list(m.streams[f"indices/{idx}"].meta) == META_READ
    res, m2 = _backup(conn, repo, [idx], previous=m)
    assert list(res.indices[idx]) == DUMP_REUSED and res.indices[idx]["skipped_unchanged"] is True
    assert list(m2.streams[f"indices/{idx}"].meta) == META_REUSED


def test_load_results_keep_their_keys(conn, http, names, repo):
    a, b = names("keys-a"), names("keys-b")
    for name in (a, b):
        http.create(name)
        http.bulk(name, [(str(i), b'{"n":%d}' % i, None) for i in range(5)])
    _, m = _backup(conn, repo, [a, b])

    def damaged(name):  # b's stream is not dump lines: its load begins, then fails
        return [b"not a dump line\n"] if name.endswith(b) else repo.read_stream(m, name)

    rn = {"rename_pattern": "^(.*)$", "rename_replacement": r"\1-r", "metadata_kinds": ()}
    res = load_snapshot(conn, m, damaged, LoadParams(**rn))
    assert list(res.indices[f"{a}-r"]) == LOAD_DONE
    assert list(res.indices[f"{b}-r"]) == LOAD_PARTWAY
    res = load_snapshot(conn, m, lambda name: repo.read_stream(m, name), LoadParams(**rn, conflict="skip"))
    assert list(res.indices[f"{a}-r"]) == LOAD_SKIPPED
    res = load_snapshot(conn, m, lambda name: repo.read_stream(m, name), LoadParams(**rn, conflict="fail"))
    assert list(res.indices[f"{a}-r"]) == LOAD_REFUSED
    http.delete(f"{a}-r")
    http.delete(f"{b}-r")
