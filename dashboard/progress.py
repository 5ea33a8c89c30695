"""Live progress for people: docs, bytes, rate, ETA and the current index, computed
from a row's `progress` JSON (whatever subset of keys the job wrote) and its start."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone


def _first(d: dict[str, Any], *keys: str) -> Any:
    for k in keys:
        if d.get(k) is not None:
            return d[k]
    return None


def summarize(progress: dict[str, Any] | None, started: datetime | None) -> dict[str, Any]:
    p = progress or {}
    docs = int(_first(p, "docs", "run_docs", "docs_done") or 0)
    nbytes = int(_first(p, "bytes", "run_bytes", "bytes_done") or 0)
    total = _first(p, "total_docs", "docs_total", "total")
    total = int(total) if total else None
    elapsed = (timezone.now() - started).total_seconds() if started else 0.0
    rate = _first(p, "rate", "docs_per_second")
    if rate is None and elapsed > 0:
        rate = docs / elapsed
    eta = _first(p, "eta", "eta_seconds")
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
        "index": _first(p, "current_index", "index") or "",
        "indices_done": _first(p, "indices_done"),
        "indices_total": _first(p, "indices_total"),
        "elapsed": elapsed,
    }
