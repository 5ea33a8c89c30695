"""storage/repo/repository.py: init and open, and how snapshots are named (latest,
filters, id prefixes)."""
from __future__ import annotations

import pytest

from storage.backends import Backend
from storage.repo import Repository, RepositoryError
from tests.storage.repo.helpers import backup, new_repo, restore


def test_opening_where_no_repository_is_says_so(backend: Backend) -> None:
    with pytest.raises(RepositoryError, match="no repository at"):
        Repository.open(backend, "pw")


def test_init_twice_is_refused(backend: Backend) -> None:
    new_repo(backend)
    with pytest.raises(RepositoryError, match="already initialized"):
        new_repo(backend)


def test_latest_filters_and_resolves_ids(local_backend: Backend) -> None:
    repo = new_repo(local_backend)
    a = backup(repo, {"s": [b"1"]}, configuration="x")
    b = backup(repo, {"s": [b"2"]}, configuration="y")
    assert repo.latest().id == b  # type: ignore[union-attr]
    assert repo.latest(where=lambda m: m.meta.get("configuration") == "x").id == a  # type: ignore[union-attr]
    assert repo.manifest("latest").id == b
    assert [m.id for m in repo.snapshots()] == [a, b]
    with pytest.raises(RepositoryError, match="no snapshot"):
        repo.manifest("ffffffff")
    with pytest.raises(RepositoryError, match="no stream"):
        restore(repo, a, "nope")
