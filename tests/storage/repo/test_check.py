"""storage/repo/check.py: a corrupt or missing chunk is named by check and by restore;
`check` with --read-data-subset n/t (issue 13, point 7): runs 1..t read every chunk
exactly once between them, and the run whose subset holds a corrupt chunk names it."""
from __future__ import annotations

import os

import pytest

from storage.backends import Backend
from storage.repo import CorruptChunk, Repository
from storage.repo.check import in_subset, parse_subset
from tests.storage.damage import corrupt_chunk
from tests.storage.repo.helpers import FAST_KDF, backup, new_repo, restore
from tests.storage.streams import ndjson_stream


def small_chunk_repo(backend: Backend) -> tuple[Repository, list[str]]:
    repo = Repository.init(backend, "pw", "team/check", kdf_params=FAST_KDF, chunker=(1024, 2048, 4096))
    with repo.writer() as w:
        w.add_stream("indices/a", os.urandom(200_000))
        w.add_stream("indices/b", os.urandom(100_000))
        w.commit(meta={"status": "Succeeded"})
    chunks = [c for s in repo.latest().streams.values() for c in s.chunks]  # type: ignore[union-attr]
    return repo, chunks


def test_the_subsets_of_a_cycle_read_every_chunk_exactly_once(local_backend: Backend) -> None:
    repo, chunks = small_chunk_repo(local_backend)
    assert len(chunks) > 50
    t = 5
    read = [repo.check(read_data_subset=(n, t)).chunks_read for n in range(1, t + 1)]
    assert sum(read) == len(set(chunks)) and all(r > 0 for r in read)
    assert all(sum(in_subset(c, n, t) for n in range(1, t + 1)) == 1 for c in chunks)
    assert repo.check().chunks_read == 0 and repo.check(read_data=True).chunks_read == len(set(chunks))


def test_a_corrupt_chunk_is_found_by_the_run_whose_subset_holds_it(local_backend: Backend) -> None:
    repo, chunks = small_chunk_repo(local_backend)
    bad = chunks[17]
    corrupt_chunk(repo, bad, at=40)
    t = 4
    results = {n: repo.check(read_data_subset=(n, t)) for n in range(1, t + 1)}
    holder = next(n for n in results if in_subset(bad, n, t))
    assert not results[holder].ok and bad in results[holder].bad_chunks
    assert "indices/" in results[holder].problems[0] and results[holder].read_data_subset == f"{holder}/{t}"
    assert all(r.ok for n, r in results.items() if n != holder)
    assert repo.check().ok  # present: a check that reads no data cannot see it


@pytest.mark.parametrize("text", ["0/3", "4/3", "1", "a/b", "1/0"])
def test_a_bad_subset_says_how_to_write_it(text: str) -> None:
    with pytest.raises(ValueError, match="n/t with 1 <= n <= t"):
        parse_subset(text)


def test_a_corrupted_chunk_is_named_by_check_and_by_restore(backend: Backend) -> None:
    repo = new_repo(backend)
    sid = backup(repo, {"idx": ndjson_stream(3 << 20, seed=4), "other": [b"fine\n"]})
    bad_id = repo.manifest(sid).streams["idx"].chunks[1]
    key = corrupt_chunk(repo, bad_id, at=100)

    assert repo.check().ok  # present, so the quick check passes
    result = repo.check(read_data=True)
    assert not result.ok
    assert result.bad_chunks == {bad_id: [f"{sid[:8]}/idx"]}
    assert bad_id in result.problems[0] and f"{sid[:8]}/idx" in result.problems[0]
    with pytest.raises(CorruptChunk) as e:
        restore(repo, sid, "idx")
    assert bad_id in str(e.value) and "idx" in str(e.value) and sid[:8] in str(e.value)
    assert restore(repo, sid, "other") == b"fine\n"

    backend.delete(key)
    missing = repo.check()
    assert not missing.ok and "missing" in missing.problems[0]
