"""Sequence lists and the search of an id list's run (backups/elastic/seqs.py, keys.lines_of): no server.
Deletions found from doc values against a real engine: tests/backups/elastic/test_incremental.py."""
from __future__ import annotations

import random

from backups.elastic.hits import parse_page
from backups.elastic.keys import KEY, RECORD, Sorter, lines_of
from backups.elastic.seqs import SeqList, code, read_codes


def test_a_sequence_list_keeps_each_lines_shard_and_seq_no_in_line_order():
    s = SeqList()
    s.add([code(0, 5), code(3, 1 << 40)], 2)
    s.add([code(1, 0)], 1)
    assert s.ok
    assert list(read_codes([s.data()[:5], s.data()[5:]])) == [code(0, 5), code(3, 1 << 40), code(1, 0)]
    assert len(s.data()) == 3 * 8


def test_a_page_that_does_not_say_its_shards_leaves_the_layer_without_a_list():
    s = SeqList()
    s.add([code(0, 1)], 1)
    s.add(None, 4)
    assert not s.ok


def test_hits_give_their_codes_from_the_sort_values_of_a_point_in_time_or_their_seq_no():
    raw = (b'{"hits":{"hits":[{"_id":"a","_source":{},"sort":[7,%d]},{"_id":"b","_source":{},"sort":[9,%d]}]}}'
           % ((2 << 32) | 15, 11))
    assert parse_page(raw, codes="shard_doc").codes == [code(2, 7), code(0, 9)]
    scroll = b'{"hits":{"hits":[{"_id":"a","_seq_no":4,"_source":{}},{"_id":"b","_seq_no":6,"_source":{}}]}}'
    assert parse_page(scroll, codes=1).codes == [code(1, 4), code(1, 6)]
    without = b'{"hits":{"hits":[{"_id":"a","_source":{}}]}}'
    assert parse_page(without, codes=1).codes is None


def test_lines_of_finds_the_lines_of_the_keys_a_run_holds():
    rng = random.Random(3)
    keys = [rng.randbytes(KEY) for _ in range(5000)]
    s = Sorter(RECORD)
    s.add_keys(keys, first_line=0)
    run = b"".join(s.sorted_parts())
    wanted = [keys[0], keys[4999], keys[1234], rng.randbytes(KEY)]
    assert sorted(lines_of(run, wanted)) == [0, 1234, 4999]
    assert lines_of(b"", wanted) == []


def test_a_list_longer_than_the_in_memory_bound_is_dropped_not_kept(monkeypatch):
    from backups.elastic import seqs

    monkeypatch.setattr(seqs, "MEMORY_LINES", 3)
    s = SeqList()
    s.add([code(0, 1), code(0, 2)], 2)
    assert s.ok
    s.add([code(1, 1), code(1, 2)], 2)
    assert not s.ok and len(s.codes) == 0
    s.add([code(1, 3)], 1)
    assert not s.ok and len(s.codes) == 0
