"""Prometheus metrics: per configuration last success, duration, size, session counts;
per repository size and snapshots; queue lengths. Read from the rows at scrape time."""
from __future__ import annotations

import hmac
from typing import Any, Iterator

from django.conf import settings
from django.db.models import Count, Max
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily


class StashboardCollector:
    def collect(self) -> Iterator[Any]:
        import django_rq

        from backups.models import BackupSession, Snapshot
        from storage.models import Repository

        labels = ["team", "configuration", "session"]
        last_success = GaugeMetricFamily("stashboard_backup_last_success_timestamp_seconds", "End of the last successful backup session", labels=labels)
        last_duration = GaugeMetricFamily("stashboard_backup_last_duration_seconds", "Duration of the last completed backup session", labels=labels)
        last_size = GaugeMetricFamily("stashboard_backup_last_size_bytes", "Stream bytes of the last successful snapshot", labels=labels)
        sessions = GaugeMetricFamily("stashboard_backup_sessions", "Backup sessions by phase", labels=labels + ["phase"])
        rows = BackupSession.objects.values("team__slug", "configuration__name", "session", "phase").annotate(n=Count("id"))
        for r in rows:
            sessions.add_metric([r["team__slug"], r["configuration__name"], r["session"], r["phase"]], r["n"])
        succeeded = BackupSession.objects.filter(phase="Succeeded").values("team__slug", "configuration__name", "session").annotate(t=Max("finished"))
        for r in succeeded:
            key = [r["team__slug"], r["configuration__name"], r["session"]]
            last_success.add_metric(key, r["t"].timestamp())
            last = BackupSession.objects.filter(configuration__name=r["configuration__name"], team__slug=r["team__slug"],
                                                session=r["session"], phase="Succeeded").order_by("-finished").first()
            if last and last.duration is not None:
                last_duration.add_metric(key, last.duration)
                size = sum(Snapshot.objects.filter(backup_session=last).values_list("size_bytes", flat=True))
                last_size.add_metric(key, size)
        yield from (last_success, last_duration, last_size, sessions)
        repo_size = GaugeMetricFamily("stashboard_repository_size_bytes", "Bytes stored in the repository", labels=["team", "repository"])
        repo_snaps = GaugeMetricFamily("stashboard_repository_snapshots", "Snapshots in the repository", labels=["team", "repository"])
        for r in Repository.objects.values("team__slug", "name", "size_bytes", "snapshot_count"):
            repo_size.add_metric([r["team__slug"], r["name"]], r["size_bytes"])
            repo_snaps.add_metric([r["team__slug"], r["name"]], r["snapshot_count"])
        yield from (repo_size, repo_snaps)
        queue_len = GaugeMetricFamily("stashboard_queue_length", "Jobs waiting in an RQ queue", labels=["queue"])
        for name in settings.RQ_QUEUES:
            try:
                queue_len.add_metric([name], len(django_rq.get_queue(name)))
            except Exception:
                continue
        yield queue_len


def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    if token:
        given = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if not hmac.compare_digest(given, token):
            return HttpResponse("set the Authorization: Bearer METRICS_TOKEN header\n", status=401)
    registry = CollectorRegistry()
    registry.register(StashboardCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
