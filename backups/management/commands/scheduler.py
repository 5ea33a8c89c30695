"""`manage.py scheduler [--loop]`: cron triggers, the reaper, periodic checks and
staleness alerts. Any number may run; a leader lock in Redis lets one act at a time."""
from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from typing import Any

import django_rq
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import close_old_connections
from django.db.models import Max, Q
from django.utils import timezone
from redis.exceptions import LockError, LockNotOwnedError, RedisError

from audit import retention as audit_retention
from backups import blueprints, notifications, scheduler
from backups.models import BackupConfiguration, BackupSession, BackupSessionConfig, SessionPhase
from runtime import reaper
from storage import flows as storage_flows
from storage.models import BackupStorage, Repository

log = logging.getLogger(__name__)

LOCK_KEY = "stashboard:scheduler:leader"
RECONCILE_EVERY = 60  # seconds between initialization attempts of a NotReady storage or repository
BLUEPRINTS_KEY = "stashboard:reconcile:blueprints"
BLUEPRINTS_EVERY = 60  # seconds between the safety net's passes over every team's blueprints


class Command(BaseCommand):
    help = "Trigger scheduled backups, reap lost jobs, schedule checks (--loop to keep going)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--loop", action="store_true")
        parser.add_argument("--interval", type=float, default=settings.SCHEDULER_INTERVAL)

    def handle(self, *args: Any, **options: Any) -> None:
        self.identity = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.redis = django_rq.get_connection("default")
        self.stopping = False
        if not options["loop"]:
            self.stdout.write("\n".join(self.handle_one()) or "nothing to do")
            return
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        # The loop logs what it does (LOG_FORMAT, as the web server and the workers do).
        while not self.stopping:
            close_old_connections()
            try:
                for line in self.handle_one():
                    log.info("scheduler: %s", line)
            except Exception:  # a turn that fails must not stop the scheduler
                log.exception("scheduler turn failed")
            for _ in range(int(options["interval"] * 10)):
                if self.stopping:
                    break
                time.sleep(0.1)
        try:
            lock = getattr(self, "lock", None)
            if lock is not None and lock.owned():
                lock.release()
        except (RedisError, LockError) as e:  # Redis went first: the lock expires by itself
            log.warning("scheduler stopped without releasing its lock (%s): it expires by itself", e)

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True

    def is_leader(self) -> bool:
        """Hold the leader lock (redis-py's Lock: the key holds this scheduler's identity and
        expires unless renewed); a leader that stops renewing it is replaced after the TTL."""
        ttl = max(3 * settings.SCHEDULER_INTERVAL, 15)
        if getattr(self, "lock", None) is None:
            # not thread-local: the token is this scheduler's, whichever thread renews it
            self.lock = self.redis.lock(LOCK_KEY, timeout=ttl, blocking=False, thread_local=False)
        if self.lock.owned():
            try:
                self.lock.extend(ttl, replace_ttl=True)
                return True
            except LockNotOwnedError:
                pass  # it expired and another scheduler took it meanwhile
        return bool(self.lock.acquire(token=self.identity))

    def handle_one(self, now: Any = None) -> list[str]:
        if not self.is_leader():
            return []
        now = now or timezone.now()
        steps: list[tuple[str, Callable[[], list[str]]]] = [
            ("schedule", lambda: scheduler.tick(now)),
            ("reap", lambda: [f"reaped {name}" for name in reaper.reap_lost_jobs(now)]),
            ("requeue", lambda: reaper.requeue_lost_pending(now)
                if self.redis.set("stashboard:requeue-check", "1", nx=True, ex=60) else []),  # once a minute is enough
            ("reconcile", self.reconcile),
            ("blueprints", self.reconcile_blueprints),
            ("checks", lambda: self.schedule_checks(now)),
            ("alerts", lambda: self.stale_alerts(now)),
            ("audit", lambda: self.purge_audit(now)),
            *((name, partial(step, now)) for name, step in scheduler.extra_steps),
        ]
        actions: list[str] = []
        for name, step in steps:
            # A failing step (the database hiccups, a row that breaks one of them) leaves the others to run.
            try:
                actions += step()
            except Exception as e:
                log.exception("scheduler step %s failed", name)
                actions.append(f"error in {name}: {type(e).__name__}: {e}")
        return actions

    def purge_audit(self, now: Any) -> list[str]:
        """Audit entries older than AUDIT_RETENTION_DAYS go, once an hour."""
        if not self.redis.set("stashboard:audit-purge", "1", nx=True, ex=3600):
            return []
        removed = audit_retention.purge(now)
        return [f"purged {removed} audit entries"] if removed else []

    def reconcile_blueprints(self) -> list[str]:
        """The safety net behind the saves, which reconcile at once: what a path around them
        (a raw update) left behind is caught within a minute, not every turn."""
        if not self.redis.set(BLUEPRINTS_KEY, "1", nx=True, ex=BLUEPRINTS_EVERY):
            return []
        return blueprints.reconcile_all()

    def reconcile(self) -> list[str]:
        """Retry what is not Ready (a storage that was unreachable, a repository waiting
        for its storage), at most once a minute each, as KubeStash's controllers do."""
        out = []
        for storage in BackupStorage.objects.filter(phase=BackupStorage.Phase.NOT_READY):
            if self.redis.set(f"stashboard:reconcile:storage:{storage.pk}", "1", nx=True, ex=RECONCILE_EVERY):
                storage_flows.initialize_storage(storage)
                out.append(f"initialize storage {storage.team_id}/{storage.name}")
        waiting = Repository.objects.filter(phase=Repository.Phase.NOT_READY, storage__phase=BackupStorage.Phase.READY)
        for repo in waiting:
            if self.redis.set(f"stashboard:reconcile:repository:{repo.pk}", "1", nx=True, ex=RECONCILE_EVERY):
                storage_flows.initialize_repository(repo)
                out.append(f"initialize repository {repo.team_id}/{repo.name}")
        return out

    def schedule_checks(self, now: Any) -> list[str]:
        limit = now - timedelta(hours=settings.CHECK_INTERVAL_HOURS)
        due = Repository.objects.filter(phase=Repository.Phase.READY).filter(Q(last_check__lt=limit) | Q(last_check__isnull=True))
        out = []
        for repo in due.filter(snapshot_count__gt=0):
            # Mark first so the next turn does not enqueue it again; the job overwrites it.
            Repository.objects.filter(pk=repo.pk).update(last_check=now)
            storage_flows.check_repository(repo, scheduled=True)  # reads the next subset of the chunks
            out.append(f"check {repo.display_name()}")
        return out

    def stale_alerts(self, now: Any) -> list[str]:
        out = []
        configs = BackupSessionConfig.objects.filter(
            configuration__phase=BackupConfiguration.Phase.READY, configuration__paused=False
        ).select_related("configuration__team")
        for sc in configs:
            team = sc.configuration.team
            if not (team.webhook_url or team.notify_emails):
                continue
            last_ok = BackupSession.objects.filter(
                configuration=sc.configuration, session=sc.name, phase=SessionPhase.SUCCEEDED
            ).aggregate(t=Max("finished"))["t"] or sc.configuration.created
            if now - last_ok < timedelta(hours=team.stale_after_hours):
                continue
            key = f"stashboard:stale:{sc.pk}"
            if self.redis.set(key, "1", nx=True, ex=team.stale_after_hours * 3600):
                notifications.send(team, f"No successful backup of {sc.configuration.name}/{sc.name}",
                                   f"The last successful snapshot is from {last_ok:%Y-%m-%d %H:%M} UTC, "
                                   f"more than {team.stale_after_hours} hours ago.")
                out.append(f"stale {sc.configuration.name}/{sc.name}")
        return out
