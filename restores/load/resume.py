"""Resuming an interrupted restore: what its earlier attempts did to each target index,
recorded as they did it (the job keeps it in RestoreSession.components["resume"], so a
worker killed halfway leaves it behind).

- `verified`: the index was loaded and its count checked: skipped when its count still is
  the manifest's (else loaded again, as `loading`).
- `loading`: an earlier attempt made the index ready and began sending its documents. The
  conflict policy already had its say then (the index exists because of this restore), so
  the load continues into it: every document is sent again by id, which is idempotent
  (`index` replaces a document with the same one), and the count is checked at the end.
  `created` says whether this restore created it (its refresh interval and replicas are
  then put back, and its count must equal the manifest's exactly).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Record = Callable[[dict[str, Any]], None]


@dataclass
class ResumeState:
    indices: dict[str, dict[str, Any]] = field(default_factory=dict)   # target -> what was done
    attempt: int = 1
    record: Record | None = None          # called with to_json() after every change
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @classmethod
    def from_json(cls, doc: Any, record: Record | None = None) -> ResumeState:
        """The state an earlier attempt left (`doc`: components["resume"]), for attempt n+1."""
        doc = doc if isinstance(doc, dict) else {}
        indices = {str(k): dict(v) for k, v in (doc.get("indices") or {}).items() if isinstance(v, dict)}
        return cls(indices, int(doc.get("attempt") or 0) + 1, record)

    def to_json(self) -> dict[str, Any]:
        return {"attempt": self.attempt, "indices": {k: dict(v) for k, v in self.indices.items()}}

    @property
    def resumed(self) -> bool:
        return self.attempt > 1 and bool(self.indices)

    def verified(self, target: str) -> bool:
        return self.indices.get(target, {}).get("state") == "verified"

    def loading(self, target: str) -> dict[str, Any] | None:
        entry = self.indices.get(target)
        return entry if entry is not None and entry.get("state") == "loading" else None

    def started(self, target: str, created: bool) -> None:
        self._set(target, {"state": "loading", "created": created})

    def done(self, target: str, count: int | None) -> None:
        self._set(target, {"state": "verified", "count": count,
                           "created": bool(self.indices.get(target, {}).get("created"))})

    def _set(self, target: str, entry: dict[str, Any]) -> None:
        with self._lock:
            self.indices[target] = entry
            doc = self.to_json()
        if self.record is not None:
            self.record(doc)
