"""Live progress for people: docs, bytes, rate, ETA and the current index, computed
from a row's `progress` JSON (whatever subset of keys the job wrote) and its start."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone


def summarize(progress: dict[str, Any] | None, started: datetime | None) -> dict[str, Any]:
    """The keys are those runtime.heartbeat.Heartbeat writes (docs, bytes, total_docs,
    rate, eta, index, index_docs, index_total); rate and ETA are computed from the start
    time when a row does not carry them yet."""
    p = progress or {}
    docs = int(p.get("docs") or 0)
    nbytes = int(p.get("bytes") or 0)
    total = int(p["total_docs"]) if p.get("total_docs") else None
    elapsed = (timezone.now() - started).total_seconds() if started else 0.0
    rate = p.get("rate")
    if rate is None and elapsed > 0:
        rate = docs / elapsed
    eta = p.get("eta")
    if eta is None and total and rate:
        eta = max(total - docs, 0) / rate if rate > 0 else None
    # Jobs count the whole run's documents before they start (total_docs), so the bar is
    # the run's progress; a row without that total shows the current index's instead.
    index_docs, index_total = p.get("index_docs"), p.get("index_total")
    if total:
        percent: int | None = min(100, int(docs * 100 / total))
    elif index_total:
        percent = min(100, int(int(index_docs or 0) * 100 / int(index_total)))
    else:
        percent = None
    return {
        "docs": docs,
        "bytes": nbytes,
        "total": total,
        "percent": percent,
        "rate": rate or 0,
        "eta": eta,
        "index": p.get("index") or "",
        "elapsed": elapsed,
    }
