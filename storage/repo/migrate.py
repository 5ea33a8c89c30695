"""`migrate`: upgrade a v1 repository (one object per chunk) to v2 (packs and an index)
in place, under the exclusive lock.

Every chunk object under data/ is copied byte for byte into packs (a v1 chunk object is a
v2 blob), the index is written, repository.yaml is rewritten with version 2, and only
then are the data/ objects deleted. Interrupted before the config is rewritten, the
repository is still a valid v1 one (the packs and index files are ignored by v1 and
replaced by the next migrate); interrupted after, it is a valid v2 one whose leftover
data/ objects the next migrate (or a manual delete) removes.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

import yaml

from .format import (
    CONFIG_KEY,
    DATA_PREFIX,
    INDEX_PREFIX,
    PACKS_PREFIX,
    index_key,
)
from .index import encode_index, split_packs
from .packs import PackSink

if TYPE_CHECKING:
    from .repository import Repository


@dataclass
class MigrateResult:
    chunks: int
    packs: int
    from_version: int
    to_version: int


def migrate(repo: Repository, *, workers: int = 8) -> MigrateResult:
    with repo.lock("exclusive"):
        config = yaml.safe_load(repo.backend.get(CONFIG_KEY))
        if int(config.get("version", 1)) >= 2:
            leftovers = list(repo.backend.list(DATA_PREFIX))
            _delete(repo, leftovers, workers)
            return MigrateResult(len(leftovers), 0, 2, 2)
        # Leftovers of an interrupted migrate are not v1 data: start again from data/.
        _delete(repo, list(repo.backend.list(PACKS_PREFIX)) + list(repo.backend.list(INDEX_PREFIX)),
                workers)
        keys = sorted(repo.backend.list(DATA_PREFIX))
        with PackSink(repo.backend, repo.cipher, repo.pack_target) as sink, \
                ThreadPoolExecutor(max_workers=workers) as pool:
            for start in range(0, len(keys), 2 * workers):  # a bounded read-ahead
                batch = keys[start:start + 2 * workers]
                for key, sealed in zip(batch, pool.map(repo.backend.get, batch), strict=True):
                    cid = key.rsplit("/", 1)[-1]
                    # Opened to learn its plaintext size (and to copy only sound chunks).
                    sink.add(cid, sealed, len(repo.cipher.open_chunk(cid, sealed)))
            packs = sink.finish()
        for group in split_packs(packs):
            index_id, sealed_index, _ = encode_index(repo.cipher, group)
            repo.backend.put(index_key(index_id), sealed_index)
        config["version"] = 2
        repo.backend.put(CONFIG_KEY, yaml.safe_dump(config, sort_keys=False).encode())
        repo.config, repo.version = config, 2
        _delete(repo, keys, workers)
        repo.index.load()
    return MigrateResult(len(keys), len(packs), 1, 2)


def _delete(repo: Repository, keys: list[str], workers: int) -> None:
    with ThreadPoolExecutor(max_workers=workers) as pool:
        list(pool.map(repo.backend.delete, keys))
