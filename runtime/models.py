"""The columns every row that a job runs share: Snapshot, RestoreSession and VerificationRun."""
from __future__ import annotations

from django.db import models


class RunPhase(models.TextChoices):
    PENDING = "Pending"
    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    CANCELLED = "Cancelled"


# Invalid is RestoreSession's own (a restore that cannot start); no job leaves those phases.
COMPLETED_PHASES = ("Succeeded", "Failed", "Cancelled", "Invalid")


class Timed(models.Model):
    """When something ran: a running row, and a backup session made of several."""

    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def duration(self) -> float | None:
        if self.started and self.finished:
            return (self.finished - self.started).total_seconds()
        return None


class RunningRow(Timed):
    """A row that one job at a time runs: it claims the row (Pending → Running, with a
    claim token its later writes filter on), a heartbeat thread writes `progress` and
    `heartbeat` every second and reads `cancel_requested_by`, and the job writes the
    final phase, `error` and `components` (runtime.jobs.Run)."""

    phase = models.CharField(max_length=10, choices=RunPhase.choices, default=RunPhase.PENDING)
    components = models.JSONField(default=dict, blank=True)
    progress = models.JSONField(default=dict, blank=True)
    heartbeat = models.DateTimeField(null=True, blank=True)
    cancel_requested_by = models.CharField(max_length=150, blank=True)
    error = models.TextField(blank=True)
    # Token of the run that claimed the row; its writes filter on it (runtime.jobs.Run).
    claim = models.CharField(max_length=32, blank=True, editable=False)

    class Meta:
        abstract = True

    def is_completed(self) -> bool:
        return self.phase in COMPLETED_PHASES
