"""Checkpoints: what a backup that has not committed yet has durably uploaded, so that the
next run of the same configuration resumes instead of reading everything again.

A checkpoint is `checkpoints/<64 hex>`, sealed like a manifest but with its own magic
(`SBR\\x01`, in the AAD too), so it never opens as a snapshot and is never listed as one:
listing, retention, `repo snapshots` and disaster recovery read `snapshots/` only. It
holds streams in the manifest's own representation: complete ones (`streams`, exactly as
a manifest would record them) and, per stream being read, the prefix already uploaded
with the engine's position after it (`partial`). The writer rewrites it as streams
complete (at most once a second) and deletes it once its snapshot is committed.

Prune keeps the chunks of every checkpoint that is not stale and deletes stale ones: a
checkpoint is stale when it was last updated more than `max_age` ago (48 h by default,
long enough for the next daily run) and no live lock is the one its writer held.
"""
from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .format import (
    CHECKPOINT_MAGIC,
    CHECKPOINTS_PREFIX,
    RepositoryError,
    isoformat,
    parse_time,
    utcnow,
)
from .manifest import MANIFEST_VERSION, Manifest, StreamEntry

if TYPE_CHECKING:
    from .repository import Repository

CHECKPOINT_MAX_AGE = 48 * 3600.0   # seconds after its last update
SAVE_INTERVAL = 1.0                # seconds between two writes of one checkpoint


def checkpoint_key(checkpoint_id: str) -> str:
    return CHECKPOINTS_PREFIX + checkpoint_id


@dataclass
class PartialStream:
    """A stream being read: `entry` holds the chunks of the bytes uploaded so far (its
    sha256 is empty: the stream is not finished) and the stream's meta; `position` is where
    the engine resumes reading after those bytes (opaque to the repository)."""
    entry: StreamEntry
    position: dict[str, Any]

    def to_doc(self) -> dict[str, Any]:
        return {"stream": self.entry.to_doc(), "position": self.position}

    @classmethod
    def from_doc(cls, name: str, d: dict[str, Any]) -> PartialStream:
        return cls(StreamEntry.from_doc(name, d["stream"]), dict(d.get("position") or {}))


@dataclass
class Checkpoint:
    id: str
    key: str                            # which configuration's runs may resume from it
    started: dt.datetime
    updated: dt.datetime
    host: str = ""
    pid: int = 0
    lock: str = ""                      # the writer's lock id
    repository_id: str = ""
    streams: dict[str, StreamEntry] = field(default_factory=dict)
    partial: dict[str, PartialStream] = field(default_factory=dict)

    @property
    def short_id(self) -> str:
        return self.id[:8]

    def chunks(self) -> set[str]:
        out: set[str] = set()
        for s in self.streams.values():
            out.update(s.chunks)
        for p in self.partial.values():
            out.update(p.entry.chunks)
        return out

    def as_manifest(self) -> Manifest:
        """The complete streams as a manifest, for SnapshotWriter.reuse_stream(); it is
        never written under snapshots/."""
        return Manifest(id=self.id, time=self.started, meta={"checkpoint": True}, streams=dict(self.streams),
                        host=self.host, repository_id=self.repository_id)

    def stale(self, now: dt.datetime, max_age: float, live_locks: set[str]) -> bool:
        return self.lock not in live_locks and (now - self.updated).total_seconds() > max_age

    def to_doc(self) -> dict[str, Any]:
        # the document's version (as a manifest's: the same in repository formats 1 and 2)
        return {"version": MANIFEST_VERSION, "kind": "checkpoint", "id": self.id, "key": self.key,
                "repository_id": self.repository_id, "host": self.host, "pid": self.pid, "lock": self.lock,
                "started": isoformat(self.started), "updated": isoformat(self.updated),
                "streams": {n: s.to_doc() for n, s in self.streams.items()},
                "partial": {n: p.to_doc() for n, p in self.partial.items()}}

    @classmethod
    def from_doc(cls, d: dict[str, Any]) -> Checkpoint:
        return cls(id=d["id"], key=d["key"], started=parse_time(d["started"]), updated=parse_time(d["updated"]),
                   host=d.get("host", ""), pid=int(d.get("pid") or 0), lock=d.get("lock", ""),
                   repository_id=d.get("repository_id", ""),
                   streams={n: StreamEntry.from_doc(n, s) for n, s in (d.get("streams") or {}).items()},
                   partial={n: PartialStream.from_doc(n, p) for n, p in (d.get("partial") or {}).items()})


def read_checkpoint(repo: Repository, checkpoint_id: str) -> Checkpoint:
    sealed = repo.backend.get(checkpoint_key(checkpoint_id))
    return Checkpoint.from_doc(repo.cipher.open_manifest(checkpoint_id, sealed, magic=CHECKPOINT_MAGIC))


def list_checkpoints(repo: Repository) -> list[Checkpoint]:
    """Every checkpoint, oldest update first. Raises RepositoryError naming one that
    cannot be read (prune must not guess which chunks it references)."""
    from storage.backends import NotFound

    out = []
    for key in repo.backend.list(CHECKPOINTS_PREFIX):
        checkpoint_id = key[len(CHECKPOINTS_PREFIX):]
        try:
            out.append(read_checkpoint(repo, checkpoint_id))
        except NotFound:
            continue  # deleted meanwhile (its snapshot was committed)
        except Exception as e:
            raise RepositoryError(f"checkpoint {checkpoint_id[:8]} in repository {repo.name} is unreadable ({e}): "
                                  f"delete {key} by hand (a backup then reads those indices again)") from e
    return sorted(out, key=lambda c: (c.updated, c.id))


def resume_point(repo: Repository, key: str, *, max_age: float = CHECKPOINT_MAX_AGE) -> Checkpoint | None:
    """What the runs of `key` left uncommitted, merged (a newer checkpoint's stream wins
    over an older one's), or None. A run that resumed and was interrupted again leaves a
    second checkpoint that may lack what it had not reached yet: hence the merge."""
    from .locks import read_locks

    now = utcnow()
    live = {lock.id for lock in read_locks(repo.backend) if lock.why_removable() is None}
    mine = [c for c in list_checkpoints(repo) if c.key == key and not c.stale(now, max_age, live)]
    if not mine:
        return None
    merged = Checkpoint(id=mine[-1].id, key=key, started=mine[-1].started, updated=mine[-1].updated,
                        repository_id=repo.id)
    for c in mine:
        for name, s in c.streams.items():
            merged.streams[name] = s
            merged.partial.pop(name, None)
        for name, p in c.partial.items():
            merged.partial[name] = p
            merged.streams.pop(name, None)
    return merged


def delete_checkpoints(repo: Repository, key: str, *, keep: str = "") -> int:
    """Delete the checkpoints of `key` except `keep`; returns how many."""
    n = 0
    for c in list_checkpoints(repo):
        if c.key == key and c.id != keep:
            repo.backend.delete(checkpoint_key(c.id))
            n += 1
    return n


class Recorder:
    """Keeps one writer's checkpoint object up to date. Thread-safe. A stream is recorded
    only once every chunk it references is stored (v2: in a pack that is uploaded and
    indexed; by chunk id only, never where: prune may move a chunk); finished streams are
    written at most `interval` apart (what a skipped write misses is read again on
    resume, never lost) and, on v1, at the next stream's start."""

    def __init__(self, repo: Repository, key: str, lock_id: str, carry: Checkpoint | None = None) -> None:
        now = utcnow()
        self.repo = repo
        self.checkpoint = Checkpoint(id=secrets.token_hex(32), key=key, started=now, updated=now,
                                     host=socket.gethostname(), pid=os.getpid(), lock=lock_id,
                                     repository_id=repo.id)
        # A run that resumes carries what it resumes from over into its own checkpoint,
        # which then replaces the older ones of the key (deleted after its first write).
        self._carried = carry is not None
        if carry is not None:
            self.checkpoint.streams.update(carry.streams)
            self.checkpoint.partial.update(carry.partial)
        self._lock = threading.Lock()
        self._last = 0.0
        self._dirty = False
        self.saved = False
        # Called before each write (may raise: then nothing is written). Format v2's writer
        # sets its persist(): the chunks the checkpoint names must be in indexed packs.
        self.before_save: Callable[[], None] | None = None
        # Seconds between two unforced writes. v2's writer raises it to its checkpoint_every:
        # each write there also uploads a pack and an index file.
        self.interval = SAVE_INTERVAL

    def stream_done(self, entry: StreamEntry) -> None:
        with self._lock:
            self.checkpoint.streams[entry.name] = entry
            self.checkpoint.partial.pop(entry.name, None)
            self._save()

    def partial(self, entry: StreamEntry, position: dict[str, Any]) -> None:
        """Saved at once: the writer's cuts are already spaced (checkpoint_every)."""
        with self._lock:
            self.checkpoint.partial[entry.name] = PartialStream(entry, position)
            self._save(force=True)

    def forget(self, name: str) -> None:
        """A resumed stream that failed: the next run reads it from its start."""
        with self._lock:
            if self.checkpoint.partial.pop(name, None) is not None:
                self._save(force=True)

    def forget_done(self, name: str) -> None:
        """A finished stream the snapshot leaves out after all."""
        with self._lock:
            if self.checkpoint.streams.pop(name, None) is not None:
                self._save(force=True)

    def flush(self, *, force: bool = True) -> None:
        """Write what is not written yet (force=False: only once `interval` has passed)."""
        with self._lock:
            if self._dirty:
                self._save(force=force)

    def _save(self, force: bool = False) -> None:
        self._dirty = True
        if not force and time.monotonic() - self._last < self.interval:
            return
        if self.before_save is not None:
            self.before_save()
        c = self.checkpoint
        c.updated = utcnow()
        sealed = self.repo.cipher.seal_manifest(c.id, c.to_doc(), magic=CHECKPOINT_MAGIC)
        self.repo.backend.put(checkpoint_key(c.id), sealed)
        self._last, self._dirty, self.saved = time.monotonic(), False, True
        if self._carried:
            self._carried = False
            delete_checkpoints(self.repo, c.key, keep=c.id)

    def delete(self) -> None:
        with self._lock:
            if self.saved:
                self.repo.backend.delete(checkpoint_key(self.checkpoint.id))
                self.saved = False
            self._dirty = False
