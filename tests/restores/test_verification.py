"""Verified restores (issue 16.1), the engine half: the dump records an order-independent
digest per index; the verifier restores under its prefix and compares counts and digests
(on every search kind: this is what the real nodes give back), then the options."""
from __future__ import annotations

import random

import pytest

from backups.elastic.digest import ALGORITHM, DocumentDigest
from backups.elastic.dump import STREAM_PREFIX
from restores.verification import (
    Query,
    VerifyParams,
    check_index,
    compare_sample,
    delete_indices,
    foreign_indices,
    indices_under,
    planned_targets,
    verify_snapshot,
)
from tests.fixtures.documents import tricky_docs
from tests.restores.load.test_load import backup


def test_the_digest_does_not_depend_on_the_order_of_documents() -> None:
    lines = [b'{"_id":"%d","_source":{"n":%d}}\n' % (i, i) for i in range(50)]
    a, b = DocumentDigest(), DocumentDigest()
    a.add_lines(b"".join(lines))
    shuffled = lines[:]
    random.Random(1).shuffle(shuffled)
    for i in range(0, 50, 7):
        b.add_lines(b"".join(shuffled[i:i + 7]))
    assert a.hexdigest() == b.hexdigest() and a.docs == b.docs == 50
    c = DocumentDigest()
    c.add_lines(b"".join(lines[:-1]) + b'{"_id":"49","_source":{"n":48}}\n')
    assert c.hexdigest() != a.hexdigest() and len(a.hexdigest()) == 64


def test_a_restored_snapshot_has_the_counts_and_the_digest_recorded_at_backup(conn, http, names, repo) -> None:
    src, other = names("vsrc"), names("vother")
    http.create(src, shards=3, mappings={"dynamic": False, "properties": {"msg": {"type": "text"}}})
    http.bulk(src, tricky_docs())
    http.create(other, shards=2)
    http.bulk(other, [(f"d{i}", b'{"n":%d,"s":"x y"}' % i, f"r{i % 3}" if i % 2 else None) for i in range(300)])
    manifest = backup(conn, repo, [src, other])
    recorded = manifest.streams[STREAM_PREFIX + other].meta["digest"]
    assert recorded["algorithm"] == ALGORITHM and recorded["docs"] == 300 and len(recorded["value"]) == 64
    params = VerifyParams(prefix="verify-" + src[:9] + "-")
    assert planned_targets(manifest, params) == [params.prefix + other, params.prefix + src]
    try:
        result = verify_snapshot(conn, manifest, lambda name: repo.read_stream(manifest, name), params)
        assert result.ok, result.problems
        assert result.indices[other]["docs"] == 300 == result.indices[other]["expected_docs"]
        assert result.indices[other]["digest"] == recorded["value"]
        assert result.indices[src]["digest"] == manifest.streams[STREAM_PREFIX + src].meta["digest"]["value"]
        # one changed document in the restored index changes its digest
        http.req("PUT", f"/{params.prefix}{other}/_doc/d0?refresh=true", {"n": 0, "s": "changed"})
        again = check_index(conn, other, params.prefix + other, manifest.streams[STREAM_PREFIX + other].meta)
        assert again["docs"] == 300 and "differs from the one recorded" in again["problems"][0]
    finally:
        delete_indices(conn, indices_under(conn, params.prefix))
    assert indices_under(conn, params.prefix) == []


@pytest.mark.search_kinds("osmem")
def test_a_snapshot_without_a_digest_is_verified_by_counts_and_says_so(conn, http, names, repo) -> None:
    src = names("vold")
    http.create(src)
    http.bulk(src, [(f"d{i}", b'{"n":%d}' % i, None) for i in range(20)])
    manifest = backup(conn, repo, [src])
    del manifest.streams[STREAM_PREFIX + src].meta["digest"]
    params = VerifyParams(prefix="verify-" + src[:9] + "-")
    try:
        result = verify_snapshot(conn, manifest, lambda name: repo.read_stream(manifest, name), params)
    finally:
        delete_indices(conn, indices_under(conn, params.prefix))
    assert result.ok and result.indices[src]["digest"] == "not recorded"
    assert any("verified by document counts only" in n and src in n for n in result.notes)


def test_random_documents_and_queries_are_checked(conn, http, names, repo) -> None:
    """On every engine: a document fetched by id returns its source as the dump wrote it."""
    src = names("vq")
    http.create(src, mappings={"properties": {"kind": {"type": "keyword"}}})
    http.bulk(src, [(f"d{i}", b'{"kind":"%s","n":%d}' % (b"a" if i < 30 else b"b", i), None) for i in range(50)])
    manifest = backup(conn, repo, [src])
    params = VerifyParams(prefix="verify-" + src[:9] + "-", random_docs=5,
                          queries=[Query(src, {"term": {"kind": "a"}}, 30), Query(src, {"term": {"kind": "b"}}, 99)])
    try:
        result = verify_snapshot(conn, manifest, lambda name: repo.read_stream(manifest, name), params,
                                 rng=random.Random(7))
        target = params.prefix + src
        # a dump line as sample_lines() gives it (no newline)
        assert compare_sample(conn, target, b'{"_id":"d3","_source":{"kind":"a","n":3}}') is None
        assert compare_sample(conn, target, b'{"_id":"d3","_source":{"kind":"a","n":4}}') == \
            f"document 'd3' of {target} differs from the snapshot"
        assert compare_sample(conn, target, b'{"_id":"gone","_source":{}}') == f"document 'gone' of {target} is missing"
    finally:
        delete_indices(conn, indices_under(conn, params.prefix))
    assert result.samples == {"compared": 5, "differ": 0}
    assert [q["hits"] for q in result.queries] == [30, 20]
    assert not result.ok and result.problems == [f"query on {src}: 20 hits, expected 99"]


@pytest.mark.search_kinds("osmem")
def test_indices_under_the_prefix_that_the_verifier_did_not_create_are_foreign(conn, http, names) -> None:
    mine, theirs = names("x"), names("y")
    prefix = mine.rsplit("-", 1)[0] + "-"
    http.create(mine)
    http.create(theirs)
    assert foreign_indices(conn, prefix, [mine]) == [theirs]
    assert foreign_indices(conn, prefix, [mine, theirs]) == []
