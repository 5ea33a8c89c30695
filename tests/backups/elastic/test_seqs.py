"""Sequence lists and the search of an id list's run (backups/elastic/seqs.py, keys.lines_of): no server.
Deletions found from doc values against a real engine: tests/backups/elastic/test_incremental.py."""
from __future__ import annotations

import random

from backups.elastic.hits import parse_page
from backups.elastic.keys import KEY, RECORD, Sorter, lines_of
from backups.elastic.seqs import SeqList, arrays, code


def test_a_sequence_list_keeps_each_lines_shard_and_seq_no_in_line_order():
    s = SeqList()
    s.add([code(0, 5), code(3, 1 << 40)], 2)
    s.add([code(1, 0)], 1)
    assert s.ok
    data = b"".join(s.parts())
    assert [c for a in arrays([data[:5], data[5:]]) for c in a] == [code(0, 5), code(3, 1 << 40), code(1, 0)]
    assert len(data) == 3 * 8


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


def test_a_list_longer_than_the_spool_bound_goes_to_a_file_and_comes_back_whole(monkeypatch):
    """Memory holds SPOOL_LINES codes at most, whatever the list's length; reading it back
    gives every line in order, SPOOL_LINES at most at a time."""
    from backups.elastic import seqs

    monkeypatch.setattr(seqs, "SPOOL_LINES", 3)
    s = SeqList()
    want = []
    for page in range(40):
        codes = [code(page % 3, page * 10 + i) for i in range(page % 4 + 1)]
        s.add(codes, len(codes))
        want += codes
        assert len(s.codes) < 3
    assert s.ok and s.count == len(want) == 100
    back = list(arrays(s.parts()))
    assert max(len(a) for a in back) <= 3
    assert [c for a in back for c in a] == want
    s.add(None, 2)
    assert not s.ok and len(s.codes) == 0 and list(s.parts()) == []
