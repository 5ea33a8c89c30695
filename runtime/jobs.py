"""One claimed run of a RunningRow: claim, heartbeat, pre-hooks, the final write.

    run = Run.claim(Snapshot, pk, attempts=F("attempts") + 1)
    if run is None:
        return "not claimed"  # another worker has it, or it was cancelled
    with run.heartbeat() as beat:
        ...
    if not run.finish(phase=..., error=...):
        return run.lost(name, "the reaper failed it meanwhile")

Every write after the claim filters on the run's claim token and on Running, so a run
the reaper gave up on, still alive, cannot write over the reaper's outcome or over a
newer attempt's."""
from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from runtime import hooks
from runtime.heartbeat import Heartbeat
from runtime.models import RunningRow, RunPhase
from tenancy.models import Team

log = logging.getLogger(__name__)


class JobFailed(Exception):
    def __init__(self, message: str, *, retry: bool = True) -> None:
        super().__init__(message)
        self.retry = retry  # False: running the job again cannot help (a pre-hook failed)


def error_text(e: Exception) -> str:
    """What the row says about an unexpected exception."""
    return str(e) if str(e).strip() else type(e).__name__


class Run:
    def __init__(self, model: type[RunningRow], pk: int, token: str) -> None:
        self.model, self.pk, self.token = model, pk, token

    @classmethod
    def claim(cls, model: type[RunningRow], pk: int, *, due: Q | None = None, **fields: Any) -> Run | None:
        """Pending → Running in one conditional update; None when another worker has the
        row or it is no longer Pending. `due` narrows the rows that may start now."""
        now = timezone.now()
        token = secrets.token_hex(16)
        rows = model.objects.filter(pk=pk, phase=RunPhase.PENDING)  # type: ignore[attr-defined]
        if due is not None:
            rows = rows.filter(due)
        claimed = rows.update(phase=RunPhase.RUNNING, started=now, heartbeat=now, claim=token, **fields)
        return cls(model, pk, token) if claimed == 1 else None

    def rows(self) -> QuerySet:
        """The row while it is still this run's."""
        return self.model.objects.filter(pk=self.pk, phase=RunPhase.RUNNING, claim=self.token)  # type: ignore[attr-defined]

    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self.model, self.pk, claim=self.token)

    def finish(self, **fields: Any) -> bool:
        """The final write (phase, error, components…); False if the row is no longer this run's."""
        return self.rows().update(finished=timezone.now(), **fields) == 1

    def lost(self, name: str, why: str) -> str:
        log.warning("%s %s lost its claim (%s): its outcome is not written", self.model._meta.verbose_name, name, why)
        return "lost claim"


def run_pre_hooks(todo: list[dict[str, Any]], when: str, team: Team, conn: Any,
                  record: Callable[[list[dict[str, Any]]], None]) -> None:
    """Run a session's pre-hooks (preBackup, preRestore), hand their results to `record`,
    and fail the run, not to be retried, if one failed."""
    ok, results = hooks.run_hooks(todo, when, team, conn)
    record(results)
    if not ok:
        failed = next(r for r in results if not r["ok"])
        label = when.replace("pre", "pre-").lower()  # preBackup → pre-backup
        raise JobFailed(f"{label} hook '{failed['name']}' failed: {failed['output']}", retry=False)
