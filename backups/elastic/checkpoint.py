"""Resuming a dump from the checkpoint an interrupted run of the same configuration left
in the repository (storage/repo/checkpoint.py).

- A stream the interrupted run finished is referenced again, without reading the index,
  when the index's fingerprint (backups/elastic/fingerprint.py) is still the one recorded
  in the stream's meta, and its format the same.
- A stream it was reading continues after its checkpointed prefix when the fingerprint
  matches and the read is the same kind: a point in time (a scroll cannot be re-opened at
  a position) with the same slices and sort. Each slice starts from its last `search_after`
  position whose page is in the prefix; the prefix was checkpointed only after every chunk
  before it was stored. Without a point in time (osmem, OpenSearch's multi-shard indices,
  read_mode scroll) the index is read again from its start.

What a position holds (JSON, in the checkpoint's `partial[stream].position`):
`{"mode": "pit", "slices": n, "sort": [...], "docs": documents in the prefix, "bytes":
their bytes, "after": {"<slice>": <last sort values>}, "digest": the prefix's document
digest (backups/elastic/digest.py; a sum, so the rest adds to it)}`.
"""
from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

from backups.elastic.digest import ALGORITHM, DocumentDigest
from backups.elastic.hits import Page
from backups.elastic.results import StreamMeta
from storage.repo.checkpoint import Checkpoint, PartialStream
from storage.repo.manifest import Manifest, StreamEntry


def _same_data(recorded: Mapping[str, Any], meta: StreamMeta, fmt: str) -> bool:
    return bool(recorded.get("fingerprint")) and recorded.get("fingerprint") == meta.get("fingerprint") \
        and recorded.get("format") == fmt


class ResumeFrom:
    """A checkpoint as the dump asks it: which streams it may take over, and from where."""

    def __init__(self, point: Checkpoint, fmt: str) -> None:
        self.point, self.fmt = point, fmt
        self.manifest: Manifest = point.as_manifest()

    @property
    def short_id(self) -> str:
        return self.point.short_id

    def complete(self, name: str, meta: StreamMeta) -> StreamEntry | None:
        entry = self.point.streams.get(name)
        if entry is None or not entry.meta.get("complete") or not _same_data(entry.meta, meta, self.fmt):
            return None
        return entry

    def partial(self, name: str, meta: StreamMeta, *, mode: str, slices: int, sort: Any) -> PartialStream | None:
        p = self.point.partial.get(name)
        if p is None or not _same_data(p.entry.meta, meta, self.fmt):
            return None
        pos = p.position
        if pos.get("mode") != "pit" or mode != "pit" or pos.get("slices") != slices or pos.get("sort") != sort:
            return None
        return p


class Positions:
    """Where each slice of one index's point-in-time read stands, as far as the pages given
    to the writer go; the writer calls it at each cut, while the page source is suspended
    just after its last page (so the position and the stored bytes agree)."""

    def __init__(self, slices: int, sort: Any, start: PartialStream | None) -> None:
        self.slices, self.sort = slices, sort
        pos = start.position if start is not None else {}
        self.docs = int(pos.get("docs") or 0)
        self.bytes = int(pos.get("bytes") or 0)
        self.after: dict[int, list[Any]] = {int(k): v for k, v in (pos.get("after") or {}).items()}
        # the document digest is a sum: the prefix's goes on with the rest
        self.digest = DocumentDigest()
        if pos.get("digest", {}).get("algorithm") == ALGORITHM:
            self.digest.total, self.digest.docs = int(pos["digest"]["value"], 16), int(pos["digest"]["docs"])
        self._lock = threading.Lock()

    def take(self, page: Page) -> None:
        with self._lock:
            self.docs += page.docs
            self.bytes += len(page.lines)
            self.digest.add_lines(page.lines)
            if page.last_sort is not None:
                self.after[page.slice] = page.last_sort

    def __call__(self) -> dict[str, Any]:
        with self._lock:
            return {"mode": "pit", "slices": self.slices, "sort": self.sort, "docs": self.docs,
                    "bytes": self.bytes, "after": {str(k): v for k, v in sorted(self.after.items())},
                    "digest": self.digest.as_meta()}
