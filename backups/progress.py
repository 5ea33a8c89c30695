"""Live progress and liveness of a running job, written to its row at most once a second.

A job's progress callbacks only update memory; one thread writes the row (progress and
heartbeat) every second and reads back whether someone asked to cancel. The reaper
(backups.flows.reap_lost_jobs) fails rows whose heartbeat stopped: a worker that
died with kill -9 leaves such a row."""
from __future__ import annotations

import threading
import time
from typing import Any

from django.db import close_old_connections, connection, models
from django.utils import timezone


class Heartbeat:
    def __init__(self, model: type[models.Model], pk: int, interval: float = 1.0):
        self.model = model
        self.pk = pk
        self.interval = interval
        self.cancel = threading.Event()
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
        self.model.objects.filter(pk=self.pk).update(progress=self.snapshot(), heartbeat=timezone.now())
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
