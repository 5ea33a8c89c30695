"""The Repository: opening with a password, snapshots, and the operations on them."""
from __future__ import annotations

import datetime as dt
import json
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
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
    SNAPSHOTS_PREFIX,
    ZSTD_LEVEL,
    RepositoryError,
    SnapshotNotFound,
    WrongPassword,
    isoformat,
    snapshot_key,
    utcnow,
)
from .locks import DEFAULT_TTL, Lock, remove_locks
from .manifest import Manifest
from .retention import RetentionRules, apply_retention

if TYPE_CHECKING:
    from storage.backends import Backend

    from .check import CheckResult
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
        self._manifest_cache: dict[str, Manifest] = {}
        self._known: ChunkSet | None = None
        self._inflight: dict[str, _Upload] = {}
        self._chunks_lock = threading.Lock()

    # -- creating and opening --------------------------------------------------------------

    @classmethod
    def init(cls, backend: Backend, password: str | bytes, name: str = "", *,
             kdf: str = "argon2id", kdf_params: dict[str, int] | None = None,
             chunker: tuple[int, int, int] = (CHUNK_MIN, CHUNK_AVG, CHUNK_MAX),
             zstd_level: int = ZSTD_LEVEL, lock_ttl: float = DEFAULT_TTL) -> Repository:
        """Create a repository at the backend's root: repository.yaml and one key file."""
        from storage.backends import AlreadyExists

        label = name or backend.describe()
        if not password:
            raise RepositoryError(f"an empty password is not allowed for repository {label}")
        keys = MasterKeys.generate()
        key_id = secrets.token_hex(16)
        key_doc = wrap_keys(keys, _pw(password), kdf=kdf, params=kdf_params,
                            extra={"created": isoformat(utcnow()), "host": socket.gethostname()})
        kdf_doc = json.loads(key_doc)
        config = {
            "format": FORMAT_NAME, "version": FORMAT_VERSION, "id": secrets.token_hex(16),
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
        if int(config.get("version", 0)) > FORMAT_VERSION:
            raise RepositoryError(f"repository {label} has format version {config['version']}; "
                                  f"this Stashboard reads up to {FORMAT_VERSION}: upgrade it")
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

    def _has_chunk(self, cid: str) -> bool:
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
               max_inflight: int | None = None, lock_wait: float = 60.0) -> SnapshotWriter:
        """A writer holding a shared lock; nothing is visible until its commit()."""
        from .writer import SnapshotWriter

        lock = self.lock("shared", wait=lock_wait)
        try:
            # Listed after the lock is held: a prune that ran before may have removed
            # chunks an earlier listing still knew.
            self._load_known()
        except BaseException:
            lock.release()
            raise
        return SnapshotWriter(self, lock, meta, workers=workers, max_inflight=max_inflight)

    # -- reading ---------------------------------------------------------------------------

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

    def prune(self, *, dry_run: bool = False) -> PruneResult:
        from .prune import prune

        return prune(self, dry_run=dry_run)

    def check(self, read_data: bool = False, read_data_subset: tuple[int, int] | None = None) -> CheckResult:
        from .check import check

        return check(self, read_data=read_data, read_data_subset=read_data_subset)

    def close(self) -> None:
        self.backend.close()
