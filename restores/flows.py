"""The restore flow: a saved RestoreSession is enqueued on the `restores` queue."""
from __future__ import annotations

from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from restores.models import RestoreSession


def start_restore(restore: RestoreSession) -> None:
    from restores import jobs

    queue = django_rq.get_queue("restores")
    transaction.on_commit(
        lambda: queue.enqueue(jobs.run_restore, restore.pk, job_timeout=settings.RQ_QUEUES["restores"]["DEFAULT_TIMEOUT"])
    )


def cancel_restore(restore: RestoreSession, user: Any) -> None:
    who = getattr(user, "username", "") or str(user or "unknown")
    now = timezone.now()
    if RestoreSession.objects.filter(pk=restore.pk, phase=RestoreSession.Phase.PENDING).update(
        phase=RestoreSession.Phase.CANCELLED, cancelled_by=who, finished=now, error=f"cancelled by {who}"
    ):
        return
    RestoreSession.objects.filter(pk=restore.pk, phase=RestoreSession.Phase.RUNNING).update(cancel_requested_by=who)
