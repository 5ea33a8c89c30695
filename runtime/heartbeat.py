"""Live progress and liveness of a running job, written to its row at most once a second.

A job's progress callbacks only update memory; one thread writes the row (progress and
heartbeat) every second and reads back whether someone asked to cancel. The reaper
(runtime.reaper.reap_lost_jobs) fails rows whose heartbeat stopped: a worker that
died with kill -9 leaves such a row."""
from __future__ import annotations

import threading
import time
from typing import Any

from django.db import close_old_connections, connection
from django.utils import timezone


class Heartbeat:
    def __init__(self, model: Any, pk: int, interval: float = 1.0, claim: str = ""):
        self.model = model
        self.pk = pk
        self.interval = interval
        self.claim = claim
        self.cancel = threading.Event()
        # Set when the row is no longer this run's (the reaper failed it, a newer attempt
        # claimed it): the job stops as if cancelled and writes no outcome.
        self.lost = threading.Event()
        self.cancelled_by = ""
        self._state: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, name=f"heartbeat-{model.__name__}-{pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def update(self, **values: Any) -> None:
        with self._lock:
            self._state.update(values)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            state = dict(self._state)
        elapsed = max(time.monotonic() - self._t0, 1e-6)
        docs = int(state.get("docs", 0))
        state["elapsed"] = round(elapsed, 1)
        state["rate"] = round(docs / elapsed, 1)
        state["bytes_rate"] = round(int(state.get("bytes", 0)) / elapsed, 1)
        total = state.get("total_docs")
        if total and docs and state["rate"] > 0:
            state["eta"] = round(max(0, total - docs) / state["rate"], 1)
        state["updated"] = timezone.now().isoformat()
        return state

    def flush(self) -> None:
        rows = self.model.objects.filter(pk=self.pk)
        if self.claim:
            rows = rows.filter(phase="Running", claim=self.claim)
        if not rows.update(progress=self.snapshot(), heartbeat=timezone.now()) and self.claim:
            self.lost.set()
            self.cancelled_by = self.cancelled_by or "the reaper (the row is no longer this run's)"
            self.cancel.set()
            return
        by = self.model.objects.filter(pk=self.pk).values_list("cancel_requested_by", flat=True).first()
        if by:
            self.cancelled_by = by
            self.cancel.set()

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    self.flush()
                except Exception:  # a lost database connection must not kill the job
                    close_old_connections()
        finally:
            connection.close()
