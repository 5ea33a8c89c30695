"""The cron scheduler: one turn triggers every due session of every ready, unpaused
configuration. Runs due within SCHEDULER_GRACE fire once; older ones (the scheduler
was down) are recorded as a Skipped session, never replayed as a burst."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter
from django.conf import settings
from django.utils import timezone

from backups import flows
from backups.models import BackupConfiguration, BackupSession, BackupSessionConfig, SessionPhase, Trigger

log = logging.getLogger(__name__)

# More scheduler steps, (name, step(now) -> actions), registered by apps above backups
# (the restores app's verifiers) from their AppConfig.ready().
extra_steps: list[tuple[str, Callable[[datetime], list[str]]]] = []


def due_ticks(schedule: str, tz: str, after: datetime, now: datetime) -> list[datetime]:
    """Cron ticks t with after < t <= now (at most 1000, newest last)."""
    zone = ZoneInfo(tz or "UTC")
    it = croniter(schedule, after.astimezone(zone))
    ticks: list[datetime] = []
    while len(ticks) < 1000:
        t = it.get_next(datetime)
        if t > now:
            break
        ticks.append(t)
    return ticks


def tick(now: datetime | None = None) -> list[str]:
    """One scheduler turn; returns what it did (for logs and tests)."""
    now = now or timezone.now()
    grace = timedelta(seconds=settings.SCHEDULER_GRACE)
    actions = []
    sessions = BackupSessionConfig.objects.filter(
        configuration__phase=BackupConfiguration.Phase.READY, configuration__paused=False
    ).select_related("configuration__team")
    for sc in sessions:
        try:
            actions += _tick_one(sc, now, grace)
        except Exception as e:  # one broken row (a schedule saved around validation) must not stop the others
            log.exception("scheduling %s/%s/%s failed", sc.configuration.team.slug, sc.configuration.name, sc.name)
            actions.append(f"error {sc.configuration.name}/{sc.name}: {type(e).__name__}: {e}")
    return actions


def _tick_one(sc: BackupSessionConfig, now: datetime, grace: timedelta) -> list[str]:
    config = sc.configuration
    baseline = sc.last_scheduled or config.created
    ticks = due_ticks(sc.schedule, config.timezone, baseline, now)
    if not ticks:
        return []
    latest = ticks[-1]
    # Claim the tick on the row: a second scheduler (or a slow turn) cannot fire it again.
    claimed = BackupSessionConfig.objects.filter(pk=sc.pk, last_scheduled=sc.last_scheduled).update(last_scheduled=latest)
    if not claimed:
        return []
    actions = []
    missed = ticks[:-1] if now - latest <= grace else ticks
    if missed:
        first, last = missed[0], missed[-1]
        BackupSession.objects.create(
            team=config.team, configuration=config, session=sc.name, trigger=Trigger.SCHEDULE,
            phase=SessionPhase.SKIPPED, finished=now,
            error=f"missed {len(missed)} scheduled run(s) from {first:%Y-%m-%d %H:%M %Z} to {last:%Y-%m-%d %H:%M %Z}: "
            "the scheduler was not running; they are not replayed",
        )
        actions.append(f"missed {config.name}/{sc.name} x{len(missed)}")
    if now - latest <= grace:
        session = flows.trigger_backup(sc, Trigger.SCHEDULE, now=now)
        actions.append(f"{session.phase} {session.name}")
    return actions
