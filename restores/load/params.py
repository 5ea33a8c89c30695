"""What a load is asked to do (LoadParams) and what it gives back (LoadResult, and per
index IndexLoaded, whose JSON is RestoreSession.components["load"][target])."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backups.elastic.metadata import CLUSTER_KINDS
from backups.elastic.results import LoadEntry, ProgressEvent
from restores.load.resume import ResumeState

Progress = Callable[[ProgressEvent], None]


@dataclass
class LoadParams:
    include: list[str] = field(default_factory=lambda: ["*"])       # source index names
    exclude: list[str] = field(default_factory=list)
    rename_pattern: str = ""                                         # regex on names
    rename_replacement: str = ""
    conflict: str = "fail"                                           # restores.rules.CONFLICT_POLICIES
    conflict_per_index: dict[str, str] = field(default_factory=dict)  # target pattern -> policy
    metadata_kinds: tuple[str, ...] = CLUSTER_KINDS                  # () for data only
    include_managed_templates: bool = False                          # dot-named / _meta.managed
    restore_aliases: bool = True
    workers: int = 2                                                 # parallel _bulk senders
    bulk_bytes: int = 10 * 1024 * 1024
    bulk_docs: int = 0                                               # 0: bounded by bytes only
    max_item_retries: int = 10
    verify: bool = True
    # An index this restore created (new, or recreated by overwrite) that failed partway:
    # keep it (its refresh_interval and replicas put back) or delete it.
    on_index_failure: str = "keep"                                   # keep | delete
    # Called with a "start" event per index, a "data" event per acknowledged _bulk (the
    # index's documents and bytes so far), then "done", "failed" or "skipped"; from the
    # load's sender threads too.
    progress: Progress | None = None
    # What earlier attempts of this restore did (restores/load/resume.py); None: no resuming.
    resume: ResumeState | None = None


@dataclass(frozen=True)
class IndexLoaded:
    """What loading one index gave. `expected` is None when the index was refused before
    its load began (the key is then left out, as it always was)."""
    source: str
    status: str                        # Succeeded | Failed | Skipped
    expected: int | None = None
    docs: int = 0
    bytes: int | None = None           # None: skipped, nothing sent
    failed: int = 0
    failures: tuple[str, ...] = ()
    duration: float = 0.0
    error: str | None = None
    data_stream: str = ""
    skipped: str = ""
    count: int | None = None           # the index's _count after the load (not for data streams)
    left: str = ""                     # a load that failed partway: "kept" | "deleted"
    resumed: str = ""                  # "verified": done by an earlier attempt; "continued": begun by one
    backoffs: int = 0                  # rejections for load (429) that halved the bulks in flight
    fewest_senders: int = 0            # ...down to this many at the least

    def to_json(self) -> LoadEntry:
        if self.expected is None:
            return {"source": self.source, "docs": self.docs, "bytes": self.bytes or 0, "failed": self.failed,
                    "failures": list(self.failures), "error": self.error, "duration": self.duration,
                    "status": self.status}
        out: LoadEntry = {"source": self.source, "docs": self.docs, "failed": self.failed,
                          "failures": list(self.failures), "duration": self.duration, "error": self.error,
                          "status": self.status, "expected": self.expected}
        if self.data_stream:
            out["data_stream"] = self.data_stream
        if self.skipped:
            out["skipped"] = self.skipped
            return out
        out["bytes"] = self.bytes or 0
        if self.backoffs:
            out["backoffs"], out["fewest_senders"] = self.backoffs, self.fewest_senders
        if self.left:
            out["partial"], out["left"] = True, self.left
        if self.count is not None:
            out["count"] = self.count
        if self.resumed:
            out["resumed"] = self.resumed
        return out


@dataclass
class LoadResult:
    indices: dict[str, LoadEntry]
    metadata: dict[str, dict[str, str]]
    ok: bool
    warnings: list[str] = field(default_factory=list)
