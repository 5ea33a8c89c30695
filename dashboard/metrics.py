"""Prometheus metrics: per configuration last success, duration, size, session counts;
per repository size and snapshots; queue lengths. Read from the rows at scrape time."""
from __future__ import annotations

import hmac
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily


class StashboardCollector:
    def collect(self) -> Iterator[Any]:
        import django_rq

        from backups.models import BackupSession
        from storage.models import Repository

        labels = ["team", "configuration", "session"]
        last_success = GaugeMetricFamily("stashboard_backup_last_success_timestamp_seconds", "End of the last successful backup session", labels=labels)
        last_duration = GaugeMetricFamily("stashboard_backup_last_duration_seconds", "Duration of the last completed backup session", labels=labels)
        last_size = GaugeMetricFamily("stashboard_backup_last_size_bytes", "Stream bytes of the last successful snapshot", labels=labels)
        sessions = GaugeMetricFamily("stashboard_backup_sessions", "Backup sessions by phase", labels=labels + ["phase"])
        rows = BackupSession.objects.values("team__slug", "configuration__name", "session", "phase").annotate(n=Count("id"))
        for r in rows:
            sessions.add_metric([r["team__slug"], r["configuration__name"], r["session"], r["phase"]], r["n"])
        # One query: succeeded sessions newest first, the first of each (configuration, session) wins.
        succeeded = (
            BackupSession.objects.filter(phase="Succeeded", finished__isnull=False)
            .select_related("team", "configuration")
            .annotate(size=Sum("snapshots__size_bytes"))
            .order_by("configuration_id", "session", "-finished")
        )
        seen: set[tuple[int, str]] = set()
        for last in succeeded:
            if (last.configuration_id, last.session) in seen:
                continue
            seen.add((last.configuration_id, last.session))
            key = [last.team.slug, last.configuration.name, last.session]
            last_success.add_metric(key, last.finished.timestamp())
            if last.duration is not None:
                last_duration.add_metric(key, last.duration)
            last_size.add_metric(key, last.size or 0)
        yield from (last_success, last_duration, last_size, sessions)
        repo_size = GaugeMetricFamily("stashboard_repository_size_bytes", "Bytes stored in the repository", labels=["team", "repository"])
        repo_snaps = GaugeMetricFamily("stashboard_repository_snapshots", "Snapshots in the repository", labels=["team", "repository"])
        for slug, name, size, snapshots in Repository.objects.values_list("team__slug", "name", "size_bytes", "snapshot_count"):
            repo_size.add_metric([slug, name], size)
            repo_snaps.add_metric([slug, name], snapshots)
        yield from (repo_size, repo_snaps)
        queue_len = GaugeMetricFamily("stashboard_queue_length", "Jobs waiting in an RQ queue", labels=["queue"])
        for name in settings.RQ_QUEUES:
            try:
                queue_len.add_metric([name], len(django_rq.get_queue(name)))
            except Exception:
                continue
        yield queue_len


LOOPBACK = ("127.0.0.1", "::1")


def _allowed(request: HttpRequest) -> HttpResponse | None:
    """The metrics name every team's configurations and repositories: closed by default.
    With METRICS_TOKEN set, only that bearer token; without, only this machine."""
    token = settings.METRICS_TOKEN
    if token:
        header = request.headers.get("Authorization", "")
        if not (header.startswith("Bearer ") and hmac.compare_digest(header.removeprefix("Bearer ").encode(), token.encode())):
            return HttpResponse("set the Authorization: Bearer <METRICS_TOKEN> header\n", status=401)
        return None
    # A proxy on this machine forwards other machines' requests from loopback; the
    # header it adds tells them apart.
    proxied = "x-forwarded-for" in request.headers or "forwarded" in request.headers
    if request.META.get("REMOTE_ADDR") not in LOOPBACK or proxied:
        return HttpResponse("metrics answer requests from this machine only: set METRICS_TOKEN to scrape "
                            "from elsewhere (Authorization: Bearer <token>)\n", status=403)
    return None


def metrics(request: HttpRequest) -> HttpResponse:
    refused = _allowed(request)
    if refused is not None:
        return refused
    registry = CollectorRegistry()
    registry.register(StashboardCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
