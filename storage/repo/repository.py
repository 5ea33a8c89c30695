"""The Repository: opening with a password, snapshots, and the operations on them."""
from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from .chunkset import ChunkSet
from .crypto import Cipher, DecryptError, MasterKeys, unwrap_keys, wrap_keys
from .format import (
    CHUNK_AVG,
    CHUNK_MAX,
    CHUNK_MIN,
    CONFIG_KEY,
    DATA_PREFIX,
    FORMAT_NAME,
    FORMAT_VERSION,
    KEYS_PREFIX,
    PACK_TARGET,
    READABLE_VERSIONS,
    SNAPSHOTS_PREFIX,
    ZSTD_LEVEL,
    RepositoryError,
    SnapshotNotFound,
    WrongPassword,
    chunk_key,
    isoformat,
    pack_key,
    snapshot_key,
    utcnow,
)
from .index import Index
from .locks import DEFAULT_TTL, Lock, remove_locks
from .manifest import Manifest
from .retention import RetentionRules, apply_retention

if TYPE_CHECKING:
    from storage.backends import Backend

    from .check import CheckResult
    from .migrate import MigrateResult
    from .prune import PruneResult
    from .writer import SnapshotWriter, _Upload


@dataclass
class ForgetResult:
    keep: list[Manifest] = field(default_factory=list)
    remove: list[Manifest] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)  # snapshot id -> reasons
    dry_run: bool = False


def _pw(password: str | bytes) -> bytes:
    return password.encode() if isinstance(password, str) else password


class Repository:
    """An opened repository. Thread-safe; create it with init() or open()."""

    def __init__(self, backend: Backend, cipher: Cipher, config: dict[str, Any], name: str, *,
                 lock_ttl: float = DEFAULT_TTL, key_id: str = "") -> None:
        self.backend = backend
        self.key_id = key_id  # the key file the password opened (storage.repo.keys)
        self.cipher = cipher
        self.config = config
        self.name = name or backend.describe()
        self.id: str = config["id"]
        c = config["chunker"]
        self.chunker_params = {"min_size": c["min_size"], "avg_size": c["avg_size"],
                               "max_size": c["max_size"]}
        self.lock_ttl = lock_ttl
        self.version = int(config.get("version", 1))
        self.pack_target = PACK_TARGET  # v2: bytes per pack (not stored: a writer's choice)
        self.index = Index(backend, cipher, self.id, self.name)  # v2 only
        self._manifest_cache: dict[str, Manifest] = {}
        self._known: ChunkSet | None = None
        self._inflight: dict[str, _Upload] = {}
        self._chunks_lock = threading.Lock()

    # -- creating and opening --------------------------------------------------------------

    @classmethod
    def init(cls, backend: Backend, password: str | bytes, name: str = "", *,
             kdf: str = "argon2id", kdf_params: dict[str, int] | None = None,
             chunker: tuple[int, int, int] = (CHUNK_MIN, CHUNK_AVG, CHUNK_MAX),
             zstd_level: int = ZSTD_LEVEL, lock_ttl: float = DEFAULT_TTL,
             version: int = FORMAT_VERSION) -> Repository:
        """Create a repository at the backend's root: repository.yaml and one key file.
        `version` 1 (one object per chunk) is kept for tests and old tooling."""
        from storage.backends import AlreadyExists

        label = name or backend.describe()
        if version not in READABLE_VERSIONS:
            raise RepositoryError(f"format version {version} is not one of {READABLE_VERSIONS}")
        if not password:
            raise RepositoryError(f"an empty password is not allowed for repository {label}")
        keys = MasterKeys.generate()
        key_id = secrets.token_hex(16)
        key_doc = wrap_keys(keys, _pw(password), kdf=kdf, params=kdf_params,
                            extra={"created": isoformat(utcnow()), "host": socket.gethostname()})
        kdf_doc = json.loads(key_doc)
        config = {
            "format": FORMAT_NAME, "version": version, "id": secrets.token_hex(16),
            "created": isoformat(utcnow()),
            "chunker": {"algorithm": "fastcdc-2016", "implementation": "fastcdc 1.7.0 (gear "
                        "table of the fastcdc package)", "min_size": chunker[0],
                        "avg_size": chunker[1], "max_size": chunker[2]},
            "compression": {"algorithm": "zstd", "level": zstd_level},
            "cipher": "AES-256-GCM", "chunk_id": "HMAC-SHA256",
            "kdf": {"algorithm": kdf, "params": kdf_doc["kdf_params"]},
        }
        try:
            backend.put(CONFIG_KEY, yaml.safe_dump(config, sort_keys=False).encode(),
                        if_absent=True)
        except AlreadyExists:
            raise RepositoryError(f"repository {label} is already initialized") from None
        backend.put(KEYS_PREFIX + key_id, key_doc, if_absent=True)
        repo = cls(backend, Cipher(keys, level=zstd_level), config, name, lock_ttl=lock_ttl,
                   key_id=key_id)
        repo._known = ChunkSet()
        repo.index.loaded = True
        return repo

    @classmethod
    def open(cls, backend: Backend, password: str | bytes, name: str = "", *,
             lock_ttl: float = DEFAULT_TTL) -> Repository:
        """Open with the password; WrongPassword if no key file opens with it."""
        from storage.backends import NotFound

        label = name or backend.describe()
        try:
            config = yaml.safe_load(backend.get(CONFIG_KEY))
        except NotFound:
            raise RepositoryError(f"no repository at {backend.describe()}: initialize it "
                                  f"first") from None
        if not isinstance(config, dict) or config.get("format") != FORMAT_NAME:
            raise RepositoryError(f"{CONFIG_KEY} at {backend.describe()} is not a "
                                  f"{FORMAT_NAME}")
        if int(config.get("version", 0)) not in READABLE_VERSIONS:
            raise RepositoryError(f"repository {label} has format version {config.get('version')}; "
                                  f"this Stashboard reads versions {READABLE_VERSIONS}: upgrade it")
        keys, key_id = None, ""
        for key in sorted(backend.list(KEYS_PREFIX)):
            try:
                keys = unwrap_keys(backend.get(key), _pw(password))
            except (ValueError, KeyError) as e:
                raise RepositoryError(f"key file {key} of repository {label} is damaged: "
                                      f"{e}") from e
            if keys is not None:
                key_id = key[len(KEYS_PREFIX):]
                break
        if keys is None:
            raise WrongPassword(f"wrong password for repository {label}")
        level = int(config.get("compression", {}).get("level", ZSTD_LEVEL))
        return cls(backend, Cipher(keys, level=level), config, name, lock_ttl=lock_ttl,
                   key_id=key_id)

    # -- locks and chunk bookkeeping -------------------------------------------------------

    def lock(self, kind: str = "shared", *, wait: float = 0.0) -> Lock:
        return Lock(self.backend, kind, ttl=self.lock_ttl, repo_name=self.name).acquire(wait=wait)

    def unlock(self, *, remove_all: bool = False) -> list[Any]:
        """Remove stale locks (every lock with remove_all=True)."""
        return remove_locks(self.backend, all_locks=remove_all, repo_name=self.name)

    def _load_known(self) -> None:
        known = ChunkSet(k.rsplit("/", 1)[-1] for k in self.backend.list(DATA_PREFIX))
        with self._chunks_lock:
            self._known = known

    def _check_version(self) -> None:
        """A writer that opened the repository before a `migrate` must not write the old format."""
        config = yaml.safe_load(self.backend.get(CONFIG_KEY))
        if int(config.get("version", 1)) != self.version:
            raise RepositoryError(f"repository {self.name} was migrated to format version "
                                  f"{config.get('version')} since it was opened: open it again")

    def load_index(self) -> None:
        """v2: read the index files (cached locally once read)."""
        self.index.load()

    def _has_chunk(self, cid: str) -> bool:
        if self.version >= 2:
            if not self.index.loaded:
                self.index.load()
            return cid in self.index
        with self._chunks_lock:
            return self._known is not None and cid in self._known

    def _claim_chunk(self, cid: str) -> tuple[bool, _Upload | None]:
        """(True, upload) if the caller must upload cid; else (False, upload to wait on or None)."""
        from .writer import _Upload

        with self._chunks_lock:
            if self._known is not None and cid in self._known:
                return False, None
            other = self._inflight.get(cid)
            if other is not None:
                return False, other
            upload = self._inflight[cid] = _Upload()
            return True, upload

    def _chunk_done(self, cid: str, upload: _Upload, error: BaseException | None) -> None:
        with self._chunks_lock:
            self._inflight.pop(cid, None)
            if error is None and self._known is not None:
                self._known.add(cid)
        upload.error = error
        upload.done.set()

    def _forget_known(self, ids: set[str]) -> None:
        with self._chunks_lock:
            if self._known is not None:
                self._known.discard_all(ids)

    # -- writing ---------------------------------------------------------------------------

    def writer(self, meta: dict[str, Any] | None = None, *, workers: int = 4,
               max_inflight: int | None = None, lock_wait: float = 60.0,
               checkpoint: str = "", checkpoint_every: float = 10.0, resume: Any = None) -> SnapshotWriter:
        """A writer holding a shared lock; nothing is visible until its commit(). With a
        `checkpoint` key (the configuration's), what it stores is recorded as it is
        stored, for the next run of that key to resume from (storage/repo/checkpoint.py);
        `resume`, the resume_point() this run resumes from, is carried over into it."""
        from .checkpoint import Recorder
        from .writer import SnapshotWriter

        lock = self.lock("shared", wait=lock_wait)
        try:
            # Read after the lock is held: a prune that ran before may have removed
            # chunks an earlier listing still knew.
            self._check_version()
            if self.version >= 2:
                self.index.load()
            else:
                self._load_known()
        except BaseException:
            lock.release()
            raise
        recorder = Recorder(self, checkpoint, lock.id, carry=resume) if checkpoint else None
        return SnapshotWriter(self, lock, meta, workers=workers, max_inflight=max_inflight, checkpoint=recorder,
                              checkpoint_every=checkpoint_every)

    def resume_point(self, key: str) -> Any:
        """The uncommitted work of the runs of `key` (a Checkpoint), or None."""
        from .checkpoint import resume_point

        return resume_point(self, key)

    def checkpoints(self) -> list[Any]:
        from .checkpoint import list_checkpoints

        return list_checkpoints(self)

    # -- reading ---------------------------------------------------------------------------

    def chunk_location(self, cid: str) -> tuple[str, int, int] | None:
        """(object key, offset, length) of a stored chunk, or None when it is not stored."""
        if self.version < 2:
            key = chunk_key(cid)
            return (key, 0, -1) if self.backend.exists(key) else None
        if not self.index.loaded:
            self.index.load()
        loc = self.index.lookup(cid)
        return None if loc is None else (pack_key(loc.pack_id), loc.offset, loc.length)

    def sealed_chunk(self, cid: str) -> bytes:
        """The stored (encrypted) bytes of a chunk; NotFound when it is not stored.

        v2: the index says where; a pack gone since the index was read (repacked by a
        prune) makes it read the index again, once."""
        from storage.backends import NotFound

        if self.version < 2:
            return self.backend.get(chunk_key(cid))
        for attempt in (0, 1):
            if attempt or not self.index.loaded:
                self.index.load()
            loc = self.index.lookup(cid)
            if loc is None:
                if attempt:
                    break
                continue
            try:
                return self.backend.get_range(pack_key(loc.pack_id), loc.offset, loc.length)
            except NotFound:
                continue
        raise NotFound(f"chunk {cid} is in no pack of repository {self.name}")

    def snapshot_ids(self) -> list[str]:
        return [k[len(SNAPSHOTS_PREFIX):] for k in self.backend.list(SNAPSHOTS_PREFIX)]

    def snapshots(self) -> list[Manifest]:
        """All snapshots, oldest first (newest last)."""
        from concurrent.futures import ThreadPoolExecutor

        ids = self.snapshot_ids()
        with ThreadPoolExecutor(max_workers=8) as pool:
            manifests = list(pool.map(self.manifest, ids))
        return sorted(manifests, key=lambda m: (m.time, m.id))

    def manifest(self, ref: str | Manifest, *, cached: bool = True) -> Manifest:
        """A snapshot by id, unique id prefix, or "latest"."""
        from storage.backends import NotFound

        if isinstance(ref, Manifest):
            return ref
        if ref == "latest":
            m = self.latest()
            if m is None:
                raise RepositoryError(f"repository {self.name} has no snapshots")
            return m
        snapshot_id = ref
        if cached and snapshot_id in self._manifest_cache:
            return self._manifest_cache[snapshot_id]
        if len(ref) < 64:
            matches = [i for i in self.snapshot_ids() if i.startswith(ref)]
            if not matches:
                raise SnapshotNotFound(f"no snapshot {ref!r} in repository {self.name}")
            if len(matches) > 1:
                raise RepositoryError(f"snapshot id {ref!r} is ambiguous in repository "
                                      f"{self.name}: give more characters")
            snapshot_id = matches[0]
        try:
            sealed = self.backend.get(snapshot_key(snapshot_id))
        except NotFound:
            raise SnapshotNotFound(f"no snapshot {ref!r} in repository {self.name}") from None
        try:
            manifest = Manifest.from_doc(self.cipher.open_manifest(snapshot_id, sealed))
        except DecryptError as e:
            raise RepositoryError(f"snapshot {snapshot_id[:8]} of repository {self.name} is "
                                  f"corrupt: {e}") from None
        self._manifest_cache[snapshot_id] = manifest
        return manifest

    def latest(self, where: Callable[[Manifest], bool] | None = None) -> Manifest | None:
        for m in reversed(self.snapshots()):
            if where is None or where(m):
                return m
        return None

    def read_stream(self, manifest: Manifest | str, stream: str, *, workers: int = 4,
                    window: int = 8) -> Iterator[bytes]:
        """The stream's bytes in order, each chunk verified, read ahead in parallel."""
        from .reader import read_stream

        return read_stream(self, self.manifest(manifest), stream, workers=workers,
                           window=window)

    # -- maintenance -----------------------------------------------------------------------

    def forget(self, rules: RetentionRules, dry_run: bool = False,
               now: dt.datetime | None = None) -> ForgetResult:
        """Remove the manifests the rules do not keep (chunks go at the next prune)."""
        manifests = {m.id: m for m in self.snapshots()}
        decisions = apply_retention([(m.id, m.time, m.status == "Failed")
                                     for m in manifests.values()], rules, now=now)
        result = ForgetResult(dry_run=dry_run)
        for d in decisions:
            (result.keep if d.keep else result.remove).append(manifests[d.id])
            result.reasons[d.id] = d.reasons
        if not dry_run:
            for m in result.remove:
                self.backend.delete(snapshot_key(m.id))
                self._manifest_cache.pop(m.id, None)
        return result

    def delete_snapshot(self, ref: str | Manifest) -> None:
        m = self.manifest(ref)
        self.backend.delete(snapshot_key(m.id))
        self._manifest_cache.pop(m.id, None)

    def prune(self, *, dry_run: bool = False, keep: Iterable[str] = ()) -> PruneResult:
        """Delete what no snapshot (and no id in `keep`) references; see prune.py."""
        from .prune import prune

        return prune(self, dry_run=dry_run, keep=keep)

    def migrate(self) -> MigrateResult:
        """Upgrade a v1 repository to v2 in place; see migrate.py."""
        from .migrate import migrate

        return migrate(self)

    def check(self, read_data: bool = False, read_data_subset: tuple[int, int] | None = None) -> CheckResult:
        from .check import check

        return check(self, read_data=read_data, read_data_subset=read_data_subset)

    def close(self) -> None:
        self.index.close()
        self.backend.close()
