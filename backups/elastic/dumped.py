"""What dumping gives: one index's result (`IndexDumped`, its entry in
Snapshot.components["dump"]) and the run's (`DumpResult`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from backups.elastic.results import DumpEntry


@dataclass(frozen=True)
class IndexDumped:
    """What dumping one index gave; `to_json()` is its entry in Snapshot.components["dump"]."""
    docs: int = 0
    bytes: int = 0
    duration: float = 0.0
    skipped_unchanged: bool = False
    error: str | None = None
    uuid: str | None = None          # None: the index was not read (failed, cancelled, closed)
    data_stream: str = ""
    read_mode: str | None = None     # None: reused from the previous snapshot
    slices: int = 0
    closed: bool = False
    docs_read: int = 0               # read from the cluster by this run (not reused, not resumed)
    resumed_from: str = ""           # the checkpoint this run took the stream or its prefix from
    digest: dict[str, Any] | None = None   # the documents' digest (backups.elastic.digest), when read
    mode: str = "full"               # "full" | "incremental" | "unchanged"
    docs_deleted: int = 0            # incremental: documents of the previous snapshot gone
    reason: str = ""                 # full: why it was not read as a delta

    def to_json(self) -> DumpEntry:
        head: DumpEntry = {"docs": self.docs, "bytes": self.bytes, "duration": self.duration,
                           "skipped_unchanged": self.skipped_unchanged, "docs_read": self.docs_read}
        if self.closed:
            return {**head, "closed": True, "error": self.error}
        return {**self._read_json(head), **self._mode_json()}

    def _mode_json(self) -> DumpEntry:
        """How the index was read (issue 18), after the keys it always had."""
        out: DumpEntry = {"mode": "unchanged" if self.skipped_unchanged else self.mode}
        if self.mode == "incremental":
            out["docs_deleted"] = self.docs_deleted
        if self.reason and self.mode == "full" and not self.skipped_unchanged:
            out["reason"] = self.reason
        return out

    def _read_json(self, head: DumpEntry) -> DumpEntry:
        out: DumpEntry = {**head, "error": self.error}
        if self.uuid is not None:
            out["uuid"] = self.uuid
        if self.data_stream:
            out["data_stream"] = self.data_stream
        if self.read_mode is not None:
            out["read_mode"], out["slices"] = self.read_mode, self.slices
        if self.resumed_from:
            out["resumed_from"] = self.resumed_from
        if self.digest is not None:
            out["digest"] = self.digest
        return out


@dataclass
class DumpResult:
    indices: dict[str, DumpEntry]
    cluster_meta: dict[str, Any]
    ok: bool
    warnings: list[str] = field(default_factory=list)

    @property
    def docs(self) -> int:
        return sum(int(i.get("docs") or 0) for i in self.indices.values())

    @property
    def bytes(self) -> int:
        return sum(int(i.get("bytes") or 0) for i in self.indices.values())
