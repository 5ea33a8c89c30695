"""What operators expect, in headless Chromium against a live server and two real
snapshots (tests.dashboard.backed_up): the cluster page and the form's connection test,
the snapshot browser (metadata, preview, NDJSON download, compare), the restore dry run,
and the charts. Screenshots go to test-output/screenshots/operators/: look at them."""
from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from backups.models import BackupSession, Snapshot
from tests import factories as f
from tests.fixtures.live import SHOTS, open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.search_kinds("osmem")]


@pytest.fixture
def shots() -> Any:
    path = SHOTS / "operators"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def page(live_server: Any, backed_up: dict[str, Any], browser: Any) -> Any:
    """Alice signed in (the world is made before the browser starts: Playwright's event
    loop in this thread refuses database calls)."""
    pg = open_page(browser, accept_downloads=True)
    sign_in(pg, live_server.url, "alice", "pw-alice")
    return pg


def test_the_cluster_page_and_the_connection_test(live_server: Any, backed_up: dict[str, Any], page: Any, shots: Any) -> None:
    from playwright.sync_api import expect

    page.get_by_role("navigation").get_by_role("link", name="Clusters").click()
    page.get_by_role("link", name="es", exact=True).click()
    indices = page.locator("#cluster-indices")
    expect(indices).to_be_visible()
    expect(indices.locator('tr[data-index="logs-a"]')).to_contain_text("nightly")
    expect(indices.locator('tr[data-index="logs-a"]')).to_contain_text("55")
    expect(page.locator("#overview")).to_contain_text("osmem-node")
    page.screenshot(path=str(shots / "cluster-page.png"), full_page=True)

    page.get_by_role("navigation").get_by_role("link", name="Clusters").click()
    page.get_by_role("link", name="New cluster").click()
    page.get_by_label("Name").fill("other")
    page.get_by_label("URLs").fill("http://no-such-host.invalid:9200")
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("DNS: the host name does not resolve")
    page.screenshot(path=str(shots / "cluster-form-dns.png"), full_page=True)
    page.get_by_label("URLs").fill(backed_up["url"])
    page.get_by_role("button", name="Test connection").click()
    expect(page.locator("#test-result")).to_contain_text("Connected")
    assert page.get_by_label("Name").input_value() == "other"   # nothing typed is lost, nothing saved yet
    page.screenshot(path=str(shots / "cluster-form-connected.png"), full_page=True)


def test_the_snapshot_browser(live_server: Any, backed_up: dict[str, Any], page: Any, shots: Any, tmp_path: Any) -> None:
    from playwright.sync_api import expect

    page.goto(live_server.url + f"/snapshots/{backed_up['second'].uuid}/")
    expect(page.locator("#cluster-metadata")).to_contain_text("logs-template")
    row = page.locator("tr", has_text="logs-a").first
    row.get_by_role("link", name="Preview").click()
    preview = page.locator(".preview-docs")
    expect(preview).to_contain_text("The first 20 of 55 documents")
    expect(preview.locator("pre").first).to_contain_text('"msg"')
    page.screenshot(path=str(shots / "snapshot-preview.png"), full_page=True)

    with page.expect_download() as info:
        page.locator("tr", has_text="users").first.get_by_role("link", name="NDJSON").click()
    path = tmp_path / "users.ndjson"
    info.value.save_as(path)
    assert len(path.read_bytes().splitlines()) == 2 * 10

    page.get_by_role("button", name="Compare").click()
    expect(page.locator('tr[data-index="events"]')).to_contain_text("added")
    expect(page.locator('tr[data-index="logs-b"]')).to_contain_text("removed")
    expect(page.locator('tr[data-index="logs-a"]')).to_contain_text("changed")
    page.screenshot(path=str(shots / "snapshot-compare.png"), full_page=True)


def test_the_restore_dry_run(live_server: Any, backed_up: dict[str, Any], page: Any, shots: Any) -> None:
    from playwright.sync_api import expect

    page.goto(live_server.url + f"/restores/new/?repository={backed_up['repo'].uuid}")
    page.get_by_label("Snapshot", exact=True).select_option(backed_up["first"].snapshot_id)
    page.get_by_label("Target cluster").select_option(label="es")
    page.get_by_role("radio", name="Skip:").check()
    page.get_by_role("button", name="Review").click()
    dry = page.locator("#dry-run-rows")
    expect(dry).to_be_visible()
    expect(dry.locator('tr[data-target="logs-a"]')).to_contain_text("skip: exists")
    expect(dry.locator('tr[data-target="logs-b"]')).to_contain_text("create")
    expect(page.locator("#estimate")).to_contain_text(re.compile("about|under a second"))
    expect(page.locator("#estimate-sources")).to_contain_text("backup(s)")
    page.screenshot(path=str(shots / "restore-dry-run.png"), full_page=True)


@pytest.fixture
def history(backed_up: dict[str, Any]) -> None:
    """A week of nightly runs before the two real ones, one failed, and a second configuration."""
    now = timezone.now()
    config, repo = backed_up["config"], backed_up["repo"]
    for days, phase in ((9, "Succeeded"), (8, "Succeeded"), (6, "Failed"), (5, "Succeeded"), (3, "Succeeded")):
        t = now - timedelta(days=days, hours=2)
        s = f.backup_session(config, phase=phase)
        snap = f.snapshot(s, repo, phase=phase, size_bytes=(0 if phase == "Failed" else 9000 + 400 * (10 - days)),
                          uploaded_bytes=0 if phase == "Failed" else 1500, snapshot_id=f"{days:02d}" * 32)
        for model, pk in ((BackupSession, s.pk), (Snapshot, snap.pk)):
            model.objects.filter(pk=pk).update(created=t, started=t, finished=t + timedelta(seconds=20 + 3 * days))
    other = f.configuration(backed_up["a"], "hourly-users", target=backed_up["cluster"], repositories=[repo])
    s = f.backup_session(other, phase="Failed")
    BackupSession.objects.filter(pk=s.pk).update(created=now - timedelta(days=1))


def test_the_charts_read_at_a_glance(live_server: Any, backed_up: dict[str, Any], history: None, page: Any, shots: Any) -> None:
    from playwright.sync_api import expect

    page.reload()
    grid = page.locator("#last-30-days svg")
    expect(grid).to_be_visible()
    expect(grid).to_contain_text("nightly")
    expect(grid).to_contain_text("1 failed")
    page.locator("#last-30-days").screenshot(path=str(shots / "overview-30-days.png"))
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    page.get_by_role("link", name="nightly", exact=True).first.click()
    expect(page.locator(".chart svg").first).to_be_visible()
    expect(page.locator(".chart").first).to_contain_text("time (UTC)")
    page.screenshot(path=str(shots / "configuration-charts.png"), full_page=True)
    page.goto(live_server.url + f"/repositories/{backed_up['repo'].uuid}/")
    expect(page.get_by_role("heading", name="Deduplication")).to_be_visible()
    page.screenshot(path=str(shots / "repository-charts.png"), full_page=True)
