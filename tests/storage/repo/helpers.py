"""What the tests of storage/repo share: a repository with cheap key derivation (the
tests open many), and one-call backup and restore of named streams."""
from __future__ import annotations

from typing import Any

from storage.backends import Backend
from storage.repo import Repository

# Cheap KDF parameters: the tests open many repositories.
FAST_KDF = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}
PASSWORD = "correct horse"


def new_repo(backend: Backend, **kw: Any) -> Repository:
    return Repository.init(backend, PASSWORD, "team/repo", kdf_params=FAST_KDF, **kw)


def backup(repo: Repository, streams: dict[str, object], **meta: object) -> str:
    with repo.writer() as w:
        for name, data in streams.items():
            w.add_stream(name, data)  # type: ignore[arg-type]
        return w.commit(meta={"status": "Succeeded", **meta})


def restore(repo: Repository, ref: str, name: str) -> bytes:
    return b"".join(repo.read_stream(ref, name))
