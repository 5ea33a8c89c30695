"""Document keys, the sorted id lists and their merge-join (backups/elastic/keys.py): no server."""
from __future__ import annotations

import random
from array import array

import pytest

from backups.elastic.keys import KEY, RECORD, Inconsistent, Sorter, compare, doc_key, live_documents, records


def test_a_key_tells_routings_apart():
    assert doc_key("1", None) != doc_key("1", "")
    assert doc_key("1", "a") != doc_key("1", "b")
    assert doc_key("a\x001", None) != doc_key("1", "a")   # no ambiguity between routing and id
    assert len(doc_key("x", None)) == KEY


def test_the_sorter_gives_records_back_sorted_with_their_line_numbers():
    rng = random.Random(7)
    keys = [rng.randbytes(KEY) for _ in range(20000)]
    s = Sorter(RECORD)
    s.add_keys(keys[:7000], first_line=0)
    s.add_keys(keys[7000:], first_line=7000)
    s.add_keys([], first_line=20000)
    got = b"".join(s.sorted_parts())
    assert s.count == 20000
    assert list(records([got[:33], got[33:]], RECORD)) == sorted(k + i.to_bytes(4, "big") for i, k in enumerate(keys))
    assert not any(s.buckets)   # each bucket freed once given back


def _recs(keys_lines):
    return b"".join(sorted(k + n.to_bytes(4, "big") for k, n in keys_lines))


def test_compare_finds_superseded_deleted_and_carried_lines():
    k = [doc_key(str(i), None) for i in range(6)]
    base = _recs([(k[0], 0), (k[1], 1), (k[2], 2), (k[3], 3)])          # layer 0: lines 0-3
    layer1 = _recs([(k[4], 0)])                                           # layer 1: a later add
    prev = live_documents([([base], 0, array("I", [3])), ([layer1], 1, array("I"))])  # k3 already dead in layer 0
    current = iter(sorted([k[0], k[2], k[4], k[5]]))                     # k1 deleted, k5 new
    delta = records([_recs([(k[2], 0), (k[5], 1)])], RECORD)              # k2 updated, k5 added
    plan = compare(prev, current, delta)
    assert plan.dead == {0: [1, 2]} or sorted(plan.dead[0]) == [1, 2]
    assert plan.deleted == 1 and plan.carried == 2                        # k0, k4 carried


def test_the_same_key_live_in_two_layers_is_refused():
    k = doc_key("1", None)
    prev = live_documents([([_recs([(k, 0)])], 0, array("I")), ([_recs([(k, 0)])], 1, array("I"))])
    with pytest.raises(Inconsistent):
        compare(prev, iter([k]), iter(()))
