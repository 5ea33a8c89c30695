"""Repository keys (issue 16, point 4): several passwords wrap the same master keys."""
from __future__ import annotations

from pathlib import Path

import pytest

from storage.backends import Backend
from storage.repo import Repository, RepositoryError, WrongPassword
from storage.repo import keys as repo_keys
from storage.repo.crypto import wrap_keys
from storage.repo.format import KEYS_PREFIX

from ..conftest import make_backend
from .helpers import backup, new_repo, restore


@pytest.fixture(params=["local", "s3"])
def keyed_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    return make_backend(request.param, request, tmp_path)


def test_a_second_password_opens_the_same_snapshots(keyed_backend: Backend) -> None:
    repo = new_repo(keyed_backend)
    sid = backup(repo, {"s": [b"hello\n"]})
    added = repo_keys.add_key(repo, "second password")
    other = Repository.open(keyed_backend, "second password", "team/repo")
    assert other.key_id == added and restore(other, sid, "s") == b"hello\n"
    listed = repo_keys.list_keys(other)
    assert [k.id for k in listed] == [repo.key_id, added]
    assert [k.current for k in listed] == [False, True]
    assert all(k.kdf == "argon2id" and k.created and k.host for k in listed)


def test_a_removed_password_stops_opening_the_repository(keyed_backend: Backend) -> None:
    repo = new_repo(keyed_backend)
    sid = backup(repo, {"s": [b"x\n"]})
    added = repo_keys.add_key(repo, "temporary")
    assert repo_keys.remove_key(repo, added[:6]) == added
    with pytest.raises(WrongPassword):
        Repository.open(keyed_backend, "temporary", "team/repo")
    assert restore(Repository.open(keyed_backend, "correct horse", "team/repo"), sid, "s") == b"x\n"


def test_it_refuses_to_remove_the_last_key_and_the_key_in_use(keyed_backend: Backend) -> None:
    repo = new_repo(keyed_backend)
    with pytest.raises(RepositoryError, match="is the last key"):
        repo_keys.remove_key(repo, repo.key_id)
    added = repo_keys.add_key(repo, "second")
    with pytest.raises(RepositoryError, match="is the one this password opened"):
        repo_keys.remove_key(repo, repo.key_id)
    # A key removed by another process: this instance, opened with it, still cannot
    # remove the one key left.
    other = Repository.open(keyed_backend, "second", "team/repo")
    repo_keys.remove_key(other, repo.key_id)
    with pytest.raises(RepositoryError, match="is the last key"):
        repo_keys.remove_key(repo, added)
    keyed_backend.put(KEYS_PREFIX + "f" * 32, wrap_keys(repo.cipher.keys, b"third",
                                                         params={"time_cost": 1, "memory_cost": 1024,
                                                                 "parallelism": 1}))
    assert Repository.open(keyed_backend, "third", "team/repo").key_id == "f" * 32
    with pytest.raises(RepositoryError, match="no key 'zz'"):
        repo_keys.remove_key(other, "zz")


def test_changing_the_password_replaces_the_key_it_opened_with(keyed_backend: Backend) -> None:
    repo = new_repo(keyed_backend)
    sid = backup(repo, {"s": [b"y\n"]})
    spare = repo_keys.add_key(repo, "spare")
    old = repo.key_id
    new = repo_keys.change_password(repo, "new password")
    assert repo.key_id == new != old
    assert {k.id for k in repo_keys.list_keys(repo)} == {spare, new}
    with pytest.raises(WrongPassword):
        Repository.open(keyed_backend, "correct horse", "team/repo")
    assert restore(Repository.open(keyed_backend, "new password", "team/repo"), sid, "s") == b"y\n"
    assert Repository.open(keyed_backend, "spare", "team/repo").key_id == spare
