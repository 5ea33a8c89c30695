"""Each user's time zone: pages show times in it, labelled; exports and /metrics stay UTC."""
from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from backups.models import BackupSession
from dashboard.models import Profile
from dashboard.resources import export

pytestmark = pytest.mark.django_db

NOON_UTC = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # winter: Berlin is CET, UTC+1


def _at_noon(world: dict[str, Any]) -> None:
    BackupSession.objects.filter(pk=world["session"].pk).update(created=NOON_UTC, started=NOON_UTC)


def test_times_are_shown_in_the_users_zone_and_labelled(world: dict[str, Any], alice: Client, bob: Client) -> None:
    _at_noon(world)
    Profile.objects.create(user=world["alice"], time_zone="Europe/Berlin")
    page = alice.get(reverse("backups:session-list")).content.decode()
    assert '<time datetime="2026-01-15T12:00:00Z">2026-01-15 13:00 CET</time>' in page
    assert "Times in" in page and "Europe/Berlin" in page
    # bob has chosen no zone yet: UTC, labelled, and the page offers to detect his browser's
    page = bob.get(reverse("backups:session-list")).content.decode()
    assert "2026-01-15 12:00 UTC</time>" in page
    assert reverse("dashboard:profile-time-zone") in page


def test_the_browsers_zone_is_saved_on_the_first_visit_only(world: dict[str, Any], bob: Client, charlie: Client) -> None:
    url = reverse("dashboard:profile-time-zone")
    assert bob.post(url, {"time_zone": "Mars/Olympus"}).status_code == 400
    assert not Profile.objects.filter(user=world["bob"]).exists()
    assert bob.post(url, {"time_zone": "America/New_York"}).status_code == 204
    assert Profile.objects.get(user=world["bob"]).time_zone == "America/New_York"
    page = bob.get(reverse("backups:session-list")).content.decode()
    assert reverse("dashboard:profile-time-zone") not in page  # nothing left to detect
    # a later detection (another browser, travelling) does not overwrite the saved zone
    assert bob.post(url, {"time_zone": "Asia/Tokyo"}).status_code == 204
    assert Profile.objects.get(user=world["bob"]).time_zone == "America/New_York"
    # charlie's detection is charlie's alone
    charlie.post(url, {"time_zone": "Asia/Tokyo"})
    assert Profile.objects.get(user=world["charlie"]).time_zone == "Asia/Tokyo"
    assert Profile.objects.get(user=world["bob"]).time_zone == "America/New_York"
    assert Client().post(url, {"time_zone": "UTC"}).status_code == 302  # to the login page


def test_the_profile_page_changes_the_zone(world: dict[str, Any], alice: Client) -> None:
    _at_noon(world)
    url = reverse("dashboard:profile")
    assert alice.get(url).status_code == 200
    r = alice.post(url, {"time_zone": "Moon/Base"})
    assert r.status_code == 400 and "Select a valid choice" in r.content.decode()
    r = alice.post(url, {"time_zone": "Asia/Kolkata"})
    assert r.status_code == 302
    assert Profile.objects.get(user=world["alice"]).time_zone == "Asia/Kolkata"
    assert "2026-01-15 17:30 IST</time>" in alice.get(reverse("backups:session-list")).content.decode()


def test_next_runs_are_in_the_users_zone_with_the_schedules_zone_named(world: dict[str, Any], alice: Client) -> None:
    Profile.objects.create(user=world["alice"], time_zone="Europe/London")
    config = world["config"]
    config.timezone = "Europe/Berlin"
    config.save()
    config.sessions.update(schedule="30 2 * * *")
    page = alice.get(reverse("backups:configuration-detail", args=[config.uuid])).content.decode()
    assert "in your time zone, Europe/London; the schedule runs in Europe/Berlin" in page
    # 02:30 in Berlin is 01:30 in London (both in winter or both in summer)
    assert "01:30 GMT</time>" in page or "01:30 BST</time>" in page
    assert "02:30 Europe/Berlin" in page
    preview = alice.get(reverse("backups:schedule-preview"),
                        {"session-schedule": "0 9 * * *", "config-timezone": "Asia/Tokyo"}).content.decode()
    assert "the schedule runs in Asia/Tokyo" in preview
    assert "00:00 GMT</time>" in preview or "01:00 BST</time>" in preview
    assert "09:00 Asia/Tokyo" in preview


def test_exports_stay_utc_whatever_the_zone(world: dict[str, Any], settings: Any) -> None:
    _at_noon(world)
    with timezone.override("Asia/Tokyo"):
        docs = export([world["a"]], kinds=["BackupSession"])
    done = next(d for d in docs if d["metadata"]["name"] == world["session"].name)
    assert done["status"]["startTime"] == "2026-01-15T12:00:00Z"
