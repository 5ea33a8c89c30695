"""Charts read at a glance: a labelled time axis, failures marked (not by colour alone),
per repository its growth and deduplication, on the overview 30 days of every configuration."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backups.models import BackupSession, Snapshot
from dashboard import charts
from tests import factories as f

pytestmark = pytest.mark.django_db

UTC = UTC


def test_time_ticks_are_round_and_labelled_by_the_span() -> None:
    ticks, fmt = charts.time_ticks(datetime(2026, 3, 1, 10, 20, tzinfo=UTC), datetime(2026, 3, 4, 8, 0, tzinfo=UTC))
    assert [t.strftime(fmt) for t in ticks] == ["Mar 02", "Mar 03", "Mar 04"]
    ticks, fmt = charts.time_ticks(datetime(2026, 3, 1, 10, 20, tzinfo=UTC), datetime(2026, 3, 1, 13, 5, tzinfo=UTC))
    assert [t.strftime(fmt) for t in ticks] == ["10:30", "11:00", "11:30", "12:00", "12:30", "13:00"]
    ticks, _ = charts.time_ticks(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 3, 31, tzinfo=UTC))
    assert 2 <= len(ticks) <= charts.MAX_TICKS


def _history(world: dict[str, Any]) -> None:
    """Four days of backups of team A's nightly: three succeeded (growing), one failed."""
    now = timezone.now()
    config, repo = world["config"], world["repo"]
    Snapshot.objects.all().delete()
    BackupSession.objects.all().delete()
    for days, phase, size, new in ((4, "Succeeded", 1000, 1000), (3, "Succeeded", 1200, 200), (2, "Failed", 0, 0),
                                   (1, "Succeeded", 1400, 200)):
        t = now - timedelta(days=days)
        s = f.backup_session(config, phase=phase)
        snap = f.snapshot(s, repo, phase=phase, size_bytes=size, uploaded_bytes=new, snapshot_id=f"{days:02d}" * 32)
        BackupSession.objects.filter(pk=s.pk).update(created=t, started=t, finished=t + timedelta(seconds=30 + days))
        Snapshot.objects.filter(pk=snap.pk).update(created=t, started=t, finished=t + timedelta(seconds=30 + days))


def test_the_configuration_charts_have_a_time_axis_and_mark_failures(world: dict[str, Any], alice: Client, bob: Client,
                                                                     charlie: Client) -> None:
    _history(world)
    url = reverse("backups:configuration-detail", args=[world["config"].uuid])
    html = alice.get(url).content.decode()
    assert "Snapshot size (data backed up)" in html and "Backup duration" in html
    assert html.count('class="tick-label"') >= 4 and "time (UTC)" in html
    day = (timezone.now() - timedelta(days=2)).strftime("%b %d")
    assert f">{day}<" in html   # a date on the axis
    assert html.count('class="fail-mark"') == 2 and "1 failed" in html   # the failed run, on both charts
    assert bob.get(url).status_code == 200 and charlie.get(url).status_code == 404


def test_the_repository_shows_growth_and_deduplication(world: dict[str, Any], alice: Client, charlie: Client) -> None:
    _history(world)
    url = reverse("storage:repository-detail", args=[world["repo"].uuid])
    html = alice.get(url).content.decode()
    assert "Stored bytes (new bytes written, cumulative)" in html and "Deduplication" in html
    assert "now 2.6×" in html   # 3600 bytes backed up over 1400 written
    assert "latest 2.6×" in html
    assert charlie.get(url).status_code == 404


def test_the_overview_shows_30_days_of_every_configuration_with_failures(world: dict[str, Any], alice: Client,
                                                                         bob: Client, charlie: Client) -> None:
    _history(world)
    f.configuration(world["a"], "hourly", target=world["cluster"], repositories=[world["repo"]])
    html = alice.get(reverse("dashboard:overview")).content.decode()
    grid = html.split('id="last-30-days"')[1].split("</section>")[0]
    assert ">nightly<" in grid and ">hourly<" in grid
    assert grid.count('class="day day-bad"') == 1 and ">✕<" in grid and ">1 failed<" in grid
    assert grid.count('class="day day-ok"') == 3 and ">no failure<" in grid and ">today<" in grid
    assert grid.count("<g class=\"day ") == 2 * 30
    assert "nightly" in bob.get(reverse("dashboard:overview")).content.decode()
    theirs = charlie.get(reverse("dashboard:overview")).content.decode()
    assert "nightly" not in theirs and 'id="last-30-days"' not in theirs
