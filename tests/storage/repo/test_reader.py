"""Reading streams back (storage/repo/reader.py): a composed stream is its layers' lines,
oldest first, each without its dead lines (docs/repository-format.md)."""
from __future__ import annotations

import os
import threading
import time
from array import array
from collections.abc import Generator
from typing import Any, cast

import pytest

from storage.backends import Backend
from storage.repo import reader
from storage.repo.format import RepositoryError
from storage.repo.reader import live_lines
from tests.storage.repo.helpers import new_repo, restore


def _dead(*lines: int) -> bytes:
    return b"".join(n.to_bytes(4, "big") for n in lines)


def test_live_lines_drop_the_dead_ones_wherever_the_parts_are_cut():
    text = b"".join(b"line %d\n" % i for i in range(50))
    for cut in (1, 3, 7, 64, len(text)):
        parts = iter([text[i:i + cut] for i in range(0, len(text), cut)])
        got = b"".join(live_lines(parts, array("I", [0, 7, 8, 49])))
        assert got == b"".join(b"line %d\n" % i for i in range(50) if i not in (0, 7, 8, 49))


def test_a_composed_stream_reads_as_its_layers_without_their_dead_lines(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    with repo.writer() as w:
        w.add_stream("layers/x/0", b"a\nb\nc\n")
        w.add_stream("layers/x/1", b"b2\nd\n")
        w.add_stream("dead/x/0", _dead(1))
        w.add_stream("indices/x", b"", meta={"composed": {"layers": ["layers/x/0", "layers/x/1"], "keys": [],
                                                          "dead": {"layers/x/0": "dead/x/0"}}})
        sid = w.commit(meta={"status": "Succeeded"})
    assert restore(repo, sid, "indices/x") == b"a\nc\nb2\nd\n"
    assert restore(repo, sid, "layers/x/0") == b"a\nb\nc\n"     # a layer alone is a plain stream


def test_a_composed_stream_whose_layer_is_missing_fails_loudly(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    with repo.writer() as w:
        w.add_stream("indices/x", b"", meta={"composed": {"layers": ["layers/x/0"], "keys": [], "dead": {}}})
        sid = w.commit(meta={"status": "Succeeded"})
    with pytest.raises(RepositoryError, match="no stream 'layers/x/0'"):
        restore(repo, sid, "indices/x")


def test_a_stream_left_half_read_stops_without_waiting_for_its_fetches(local_backend: Backend, monkeypatch) -> None:
    """Closing a half-read stream (or the garbage collector finalising it) must not join
    its fetch threads: a finaliser may run inside another thread's start, where a join
    deadlocks on threading's own locks (a CI run hung in a restore stopped by an outage)."""
    repo = new_repo(local_backend)
    with repo.writer() as w:
        w.add_stream("big", os.urandom(12 << 20))
        sid = w.commit(meta={"status": "Succeeded"})
    first = repo.manifest(sid).streams["big"].chunks[0]
    release, real = threading.Event(), reader.fetch_chunk

    def slow(repo_: Any, cid: str, **kw: Any) -> bytes:
        if cid != first:
            release.wait(30)
        return real(repo_, cid, **kw)

    monkeypatch.setattr(reader, "fetch_chunk", slow)
    stream = cast(Generator[bytes, None, None], repo.read_stream(sid, "big"))
    try:
        assert next(stream)
        closer = threading.Thread(target=stream.close)
        t = time.monotonic()
        closer.start()
        closer.join(10)
        assert not closer.is_alive() and time.monotonic() - t < 5, "close() waited for the fetches under way"
    finally:
        release.set()
