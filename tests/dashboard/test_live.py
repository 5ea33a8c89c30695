"""Pages that show something not yet completed poll their `#live` partial every 2s and
stop (HTMX_STOP_POLLING, 286) once all of it is completed; tried by alice, bob and charlie."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backups.models import BackupConfiguration, BackupSession, Snapshot
from restores.models import RestoreSession
from storage.models import BackupStorage, Repository

pytestmark = pytest.mark.django_db

POLL = 'hx-trigger="every 2s"'


def htmx(client: Client, url: str) -> Any:
    return client.get(url, HTTP_HX_REQUEST="true")


def _assert_polls(world: dict[str, Any], url: str, alice: Client, bob: Client, charlie: Client) -> None:
    for member in (alice, bob):
        page = member.get(url)
        assert page.status_code == 200 and POLL in page.content.decode()
        poll = htmx(member, url)
        assert poll.status_code == 200 and POLL in poll.content.decode()
        assert "<html" not in poll.content.decode()  # only the partial
    assert charlie.get(url).status_code == 404
    assert htmx(charlie, url).status_code == 404


def _assert_stopped(url: str, alice: Client, bob: Client) -> None:
    for member in (alice, bob):
        assert POLL not in member.get(url).content.decode()
        poll = htmx(member, url)
        assert poll.status_code == 286 and POLL not in poll.content.decode()


def _finish_everything(world: dict[str, Any]) -> None:
    BackupStorage.objects.update(phase="Ready", status_message="")
    Repository.objects.update(phase="Ready", status_message="")
    BackupConfiguration.objects.update(phase="Ready", status_message="")
    BackupSession.objects.update(phase="Succeeded")
    Snapshot.objects.update(phase="Succeeded")
    RestoreSession.objects.update(phase="Succeeded")


def test_the_configuration_page_polls_while_its_repositories_initialize_and_stops_when_all_is_done(
        world: dict[str, Any], alice: Client, bob: Client, charlie: Client) -> None:
    BackupSession.objects.update(phase="Succeeded")
    Snapshot.objects.update(phase="Succeeded")
    Repository.objects.update(phase="NotReady", status_message="")
    BackupConfiguration.objects.update(phase="NotReady", status_message="waiting for repositories: repo (initializing)")
    url = reverse("backups:configuration-detail", args=[world["config"].uuid])
    _assert_polls(world, url, alice, bob, charlie)
    html = htmx(alice, url).content.decode()
    assert 'id="phase-badge" hx-swap-oob="true"' in html and "NotReady" in html

    # Ready, and the instant backup running: still polling, the badge says Ready
    Repository.objects.update(phase="Ready")
    BackupConfiguration.objects.update(phase="Ready", status_message="")
    BackupSession.objects.filter(pk=world["running"].pk).update(phase="Running")
    poll = htmx(alice, url)
    assert poll.status_code == 200 and POLL in poll.content.decode() and "badge-ok\">Ready" in poll.content.decode()
    assert world["running"].name in poll.content.decode()

    _finish_everything(world)
    _assert_stopped(url, alice, bob)


def test_a_configuration_whose_storage_failed_does_not_poll(world: dict[str, Any], alice: Client) -> None:
    _finish_everything(world)
    BackupStorage.objects.update(phase="NotReady", status_message="directory not writable")
    Repository.objects.update(phase="NotReady", status_message="waiting for storage 'local' to be Ready (directory not writable)")
    BackupConfiguration.objects.update(phase="NotReady", status_message="waiting for repositories: repo (…)")
    url = reverse("backups:configuration-detail", args=[world["config"].uuid])
    assert htmx(alice, url).status_code == 286


def test_the_storage_page_polls_while_it_initializes(world: dict[str, Any], alice: Client, bob: Client,
                                                    charlie: Client) -> None:
    _finish_everything(world)
    BackupStorage.objects.filter(pk=world["storage"].pk).update(phase="NotReady", status_message="")
    url = reverse("storage:storage-detail", args=[world["storage"].uuid])
    _assert_polls(world, url, alice, bob, charlie)
    assert "Initializing" in alice.get(url).content.decode()
    # Ready, but its repository waits for the init the storage just enqueued
    BackupStorage.objects.update(phase="Ready")
    Repository.objects.update(phase="NotReady", status_message="waiting for storage 'local' to be Ready (not initialized yet)")
    assert htmx(alice, url).status_code == 200
    Repository.objects.update(phase="Ready", status_message="")
    _assert_stopped(url, alice, bob)


def test_the_repository_page_polls_while_it_initializes_or_a_snapshot_runs(world: dict[str, Any], alice: Client,
                                                                          bob: Client, charlie: Client) -> None:
    _finish_everything(world)
    Repository.objects.update(phase="NotReady", status_message="")
    url = reverse("storage:repository-detail", args=[world["repo"].uuid])
    _assert_polls(world, url, alice, bob, charlie)
    Repository.objects.update(phase="Ready")
    Snapshot.objects.filter(backup_session=world["running"]).update(phase="Running")
    assert htmx(alice, url).status_code == 200
    Snapshot.objects.update(phase="Succeeded")
    _assert_stopped(url, alice, bob)


def test_the_overview_running_list_polls_until_nothing_runs_or_is_about_to(world: dict[str, Any], alice: Client,
                                                                           bob: Client, charlie: Client) -> None:
    url = reverse("dashboard:overview-running")
    for member in (alice, bob):
        poll = htmx(member, url)
        assert poll.status_code == 200 and POLL in poll.content.decode() and world["running"].name in poll.content.decode()
    assert world["running"].name not in htmx(charlie, url).content.decode()
    assert htmx(charlie, url).status_code == 286  # team B runs nothing
    assert POLL in alice.get(reverse("dashboard:overview")).content.decode()

    # nothing runs, but a configuration's repositories initialize: its instant backup is coming
    _finish_everything(world)
    Repository.objects.update(phase="NotReady", status_message="")
    BackupConfiguration.objects.update(phase="NotReady")
    assert htmx(alice, url).status_code == 200
    assert htmx(alice, reverse("dashboard:overview")).status_code == 200

    _finish_everything(world)
    for member in (alice, bob):
        assert htmx(member, url).status_code == 286
        assert POLL not in member.get(reverse("dashboard:overview")).content.decode()


def test_the_restores_list_polls_while_a_restore_runs(world: dict[str, Any], alice: Client, bob: Client,
                                                     charlie: Client) -> None:
    from tests import factories as f

    f.restore(world["a"], world["repo"], world["cluster"], name="restore-2", phase="Running")
    url = reverse("restores:restore-list")
    for member in (alice, bob):
        assert POLL in member.get(url).content.decode()
        poll = htmx(member, url)
        assert poll.status_code == 200 and "restore-2" in poll.content.decode() and "<html" not in poll.content.decode()
    assert "restore-2" not in charlie.get(url).content.decode()
    assert htmx(charlie, url).status_code == 286
    RestoreSession.objects.update(phase="Succeeded")
    _assert_stopped(url, alice, bob)
