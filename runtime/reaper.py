"""The reaper, for every model a job runs: apps register theirs in AppConfig.ready(),
so the scheduler's turn reaps and requeues restores without backups importing them.

- `reap_lost_jobs()`: Running rows whose heartbeat stopped (a worker killed mid-job)
  become Failed ("worker lost"), or go back to Pending when their kind retries.
- `requeue_lost_pending()`: Pending rows whose job is in no queue (Redis restarted
  without persistence, a flushed queue) are enqueued again; otherwise a session would
  stay Pending and every later trigger would be Skipped. A duplicate is harmless: jobs
  claim their row."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from runtime.models import RunningRow, RunPhase

log = logging.getLogger(__name__)


def _older_than(now: datetime, old: datetime) -> Q:
    return Q(created__lt=old)


@dataclass(frozen=True)
class RunningKind:
    model: type[RunningRow]
    queue: str  # the RQ queue its job runs on
    job: Callable[[int], str]  # takes the row's pk
    # Pending rows that are due to run (now, created before): a kind with delayed retries says so.
    due: Callable[[datetime, datetime], Q] = _older_than
    # A lost run given another chance (row, message, now): None when it is not (the
    # reaper fails it), else what the reaper reports ("" when the row changed meanwhile).
    retry: Callable[[Any, str, datetime], str | None] | None = None
    on_failed: Callable[[Any], None] | None = None  # after the reaper failed a row
    lost_note: str = ""  # added to the "worker lost" message
    select_related: tuple[str, ...] = ()


KINDS: list[RunningKind] = []


def register(kind: RunningKind) -> None:
    """Called from AppConfig.ready(); registering a model twice replaces the first."""
    KINDS[:] = [k for k in KINDS if k.model is not kind.model] + [kind]


def enqueue(kind: RunningKind, pk: int) -> None:
    django_rq.get_queue(kind.queue).enqueue(kind.job, pk, job_timeout=settings.RQ_QUEUES[kind.queue]["DEFAULT_TIMEOUT"])


def reap_lost_jobs(now: datetime | None = None, timeout: float | None = None) -> list[str]:
    """Fail running rows whose heartbeat stopped; returns their names."""
    now = now or timezone.now()
    limit = now - timedelta(seconds=timeout or settings.REAPER_TIMEOUT)
    reaped = []
    for kind in KINDS:
        lost = kind.model.objects.filter(phase=RunPhase.RUNNING).filter(  # type: ignore[attr-defined]
            Q(heartbeat__lt=limit) | Q(heartbeat__isnull=True, started__lt=limit))
        for row in lost.select_related(*kind.select_related):
            message = f"worker lost: no heartbeat since {(row.heartbeat or row.started):%Y-%m-%d %H:%M:%S} UTC{kind.lost_note}"
            retried = kind.retry(row, message, now) if kind.retry is not None else None
            if retried is not None:
                reaped += [retried] if retried else []
                continue
            if kind.model.objects.filter(pk=row.pk, phase=RunPhase.RUNNING).update(  # type: ignore[attr-defined]
                    phase=RunPhase.FAILED, error=message, finished=now, claim=""):
                reaped.append(row.name)
                if kind.on_failed is not None:
                    kind.on_failed(row)
    return reaped


def _ids_in_queue(queue_name: str) -> set[int] | None:
    """Row ids that a job queued or running on `queue_name` will work on (None if Redis
    cannot be read: then nothing is re-enqueued)."""
    from rq.job import Job

    try:
        queue = django_rq.get_queue(queue_name)
        job_ids = list(queue.get_job_ids()) + list(queue.started_job_registry.get_job_ids())
        ids = set()
        for job in Job.fetch_many(job_ids, connection=queue.connection):
            if job is not None and job.args:
                ids.add(int(job.args[0]))
        return ids
    except Exception as e:
        log.warning("cannot read queue %s: %s", queue_name, e)
        return None


def requeue_lost_pending(now: datetime | None = None, grace: float = 60) -> list[str]:
    """Enqueue again the due Pending rows no queued or running job will work on."""
    now = now or timezone.now()
    old = now - timedelta(seconds=grace)
    out = []
    for kind in KINDS:
        pending = list(kind.model.objects.filter(phase=RunPhase.PENDING).filter(  # type: ignore[attr-defined]
            kind.due(now, old)).values_list("pk", "name"))
        queued = _ids_in_queue(kind.queue) if pending else None
        if queued is None:
            continue
        for pk, name in pending:
            if pk not in queued:
                enqueue(kind, pk)
                out.append(f"requeued {name}")
    return out
