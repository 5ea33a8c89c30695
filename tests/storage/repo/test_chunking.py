"""storage/repo/chunking.py: content-defined chunks, so the same data uploads nothing
new and an edit uploads only the chunks near it."""
from __future__ import annotations

from storage.backends import Backend
from tests.storage.repo.helpers import backup, new_repo, restore
from tests.storage.streams import ndjson_stream


def test_a_second_snapshot_of_identical_data_uploads_almost_nothing(backend: Backend) -> None:
    repo = new_repo(backend)
    size = 24 << 20
    with repo.writer() as w:
        first = w.add_stream("idx", ndjson_stream(size, seed=1))
        w.commit()
    with repo.writer() as w:
        second = w.add_stream("idx", ndjson_stream(size, seed=1, block=333_333))
        w.commit()
    assert first.chunks_new == first.chunks > 1
    assert second.bytes_new < 0.001 * size
    assert second.sha256 == first.sha256


def test_an_edit_in_the_middle_uploads_only_nearby_chunks(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    data = b"".join(ndjson_stream(32 << 20, seed=3))
    edited = data[:16 << 20] + b'{"_id":"inserted"}\n' + data[16 << 20:]
    backup(repo, {"idx": [data]})
    with repo.writer() as w:
        info = w.add_stream("idx", [edited])
        w.commit()
    assert info.bytes_new < 0.25 * len(data)
    assert restore(repo, "latest", "idx") == edited
