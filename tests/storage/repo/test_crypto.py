"""storage/repo/crypto.py: the password opens the repository key (argon2id, scrypt), a
wrong one is refused saying so."""
from __future__ import annotations

import pytest

from storage.backends import Backend
from storage.repo import Repository, WrongPassword
from tests.storage.repo.helpers import new_repo


def test_a_wrong_password_is_refused_with_a_clear_message(backend: Backend) -> None:
    new_repo(backend)
    with pytest.raises(WrongPassword, match="^wrong password for repository team/repo$"):
        Repository.open(backend, "battery staple", "team/repo")


def test_scrypt_keys_work_too(local_backend: Backend) -> None:
    Repository.init(local_backend, "pw", kdf="scrypt", kdf_params={"n": 1024, "r": 8, "p": 1})
    assert Repository.open(local_backend, "pw").snapshots() == []
    with pytest.raises(WrongPassword):
        Repository.open(local_backend, "nope")
