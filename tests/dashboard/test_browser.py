"""The whole flow in Debian's chromium, against a live server, a real RQ worker
(a separate `manage.py rqworker` process on the test database), osmem-server (the
dashboard's wiring does not change with the search kind) and a local-directory storage:

sign in → secret, storage, cluster (test connection), configuration → the instant
backup's live progress reaches Succeeded → the snapshot → the restore wizard with a
rename → the restored index counts. Screenshots go to test-output/screenshots/KIND/."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from tests import factories as f
from tests.fixtures.live import DOCS, SHOTS, open_page
from tests.peers.clusters import ONE_KIND, SearchCluster
from tests.peers.osmem import es

pytestmark = [pytest.mark.browser, pytest.mark.slow]

@pytest.fixture
def shots(search: SearchCluster) -> Path:
    path = SHOTS / search.kind
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def alice(live_server: Any) -> Any:
    # Before the browser starts: Playwright's sync API runs an event loop in this
    # thread, and Django refuses database calls from it.
    team = f.team("team-a", name="Team A")
    return f.user("alice", team, "owner", password="alice-pw-123")


@pytest.fixture
def page(live_server: Any, alice: Any, browser: Any) -> Any:
    return open_page(browser)


# the dashboard around the engine: one kind (the engine runs on every kind in its own tests)
@pytest.mark.search_kinds(ONE_KIND)
def test_backup_and_restore_through_the_dashboard(live_server: Any, worker: Any, cluster: str, storage_root: Path,
                                                  page: Any, shots: Path) -> None:
    from playwright.sync_api import expect

    base = live_server.url

    # Sign in
    page.goto(base + "/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("alice-pw-123")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()

    # Secret (value write-only)
    page.get_by_role("link", name="Secrets").click()
    page.get_by_role("link", name="New secret").click()
    page.get_by_label("Name").fill("repo-key")
    page.get_by_label("Values").fill("RESTIC_PASSWORD=browser-test-password")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Secret 'repo-key' saved.")).to_be_visible()
    assert "browser-test-password" not in page.content()

    # Storage
    page.get_by_role("link", name="Storages").click()
    page.get_by_role("link", name="New storage").click()
    page.get_by_label("Name").fill("local")
    page.get_by_label("Provider").select_option("local")
    page.get_by_label("Mount path").fill(str(storage_root / "team-a"))
    page.get_by_role("button", name="Save").click()
    expect(page.locator("h1")).to_contain_text("local")
    # the worker initializes it; the page updates by itself (no reload)
    expect(page.locator("h1 .badge")).to_have_text("Ready", timeout=20_000)

    # Cluster + test connection
    page.get_by_role("link", name="Clusters").click()
    page.get_by_role("link", name="New cluster").click()
    page.get_by_label("Name").fill("es")
    page.get_by_label("URLs").fill(cluster)
    page.get_by_role("button", name="Save").click()
    page.get_by_role("button", name="Test connection").click()
    result = page.locator("#test-result")
    expect(result).to_contain_text("Connected")
    expect(result).to_contain_text("Indices")
    assert "3" in result.inner_text()
    expect(page.locator("#connection")).to_contain_text("plain HTTP")  # an http:// cluster has no TLS to verify
    page.screenshot(path=str(shots / "cluster-test.png"), full_page=True)

    # Configuration, with a new repository, throttled so the progress can be watched
    page.get_by_role("link", name="Configurations").click()
    page.get_by_role("link", name="New configuration").click()
    page.get_by_label("Name", exact=True).fill("nightly")
    page.get_by_label("Cluster to back up").select_option(label="es")
    page.get_by_label("Schedule").fill("30 2 * * *")
    expect(page.locator("#schedule-preview li")).to_have_count(5)
    page.get_by_label("New repository name").fill("nightly-repo")
    page.get_by_label("in storage").select_option(label="local")
    page.get_by_label("encryption secret").select_option(label="repo-key")
    page.get_by_label("Max docs per second").fill("300")
    page.screenshot(path=str(shots / "configuration-form.png"), full_page=True)
    page.get_by_role("button", name="Create and back up").click()
    expect(page.get_by_text("Configuration 'nightly' created")).to_be_visible()
    # The configuration page follows its repositories' initialization and the instant
    # backup without a reload
    page.screenshot(path=str(shots / "configuration-initializing.png"), full_page=True)
    # two init jobs on the worker; 60 s: the suite shares two cores with another process
    expect(page.locator("h1 .badge")).to_have_text("Ready", timeout=60_000)
    expect(page.locator("#live table a.mono").first).to_be_visible(timeout=20_000)
    expect(page.locator("#live")).not_to_contain_text("waiting for repositories")
    page.screenshot(path=str(shots / "configuration-live.png"), full_page=True)

    # The instant backup: its live progress, until Succeeded
    page.get_by_role("link", name="Overview").click()
    session_link = page.locator("#running a.mono").first
    expect(session_link).to_be_visible(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(shots / "overview-running.png"), full_page=True)
    session_link.click()
    phase = page.locator("#live [data-phase]")
    expect(phase).to_have_attribute("data-phase", "Running", timeout=20_000)
    expect(page.locator("#live .progress-stats")).to_contain_text("docs/s")
    for _ in range(20):  # a poll with documents counted
        if re.search(r"[1-9]\d*% — index", page.locator("#live").inner_text()) or "Succeeded" in (phase.get_attribute("data-phase") or ""):
            break
        page.wait_for_timeout(500)
    page.screenshot(path=str(shots / "session-running.png"), full_page=True)
    expect(phase).to_have_attribute("data-phase", "Succeeded", timeout=60_000)
    for index, n in DOCS.items():
        expect(page.locator("tr", has_text=index).first).to_contain_text(f"{n:,}".replace(",", "\u202f"))
    page.screenshot(path=str(shots / "session-succeeded.png"), full_page=True)

    # The snapshot browser
    page.get_by_role("link", name="Browse snapshot").click()
    expect(page.locator("tr", has_text="users")).to_contain_text("people")  # its alias, from the manifest
    mapping = page.locator("tr", has_text="logs-a").locator("details")
    mapping.locator("summary").click()
    expect(mapping.locator("pre")).to_contain_text('"properties": {')  # JSON, not a Python dict
    page.screenshot(path=str(shots / "snapshot.png"), full_page=True)

    # The restore wizard, with a rename
    page.get_by_role("link", name="Restore…").click()
    page.get_by_label("Indices", exact=True).fill("logs-*")
    page.get_by_label("Rename: pattern").fill("^(.*)$")
    page.get_by_label("Rename: replacement").fill("restored-\\1")
    preview = page.locator("#preview")
    expect(preview).to_contain_text("restored-logs-a")
    expect(preview).not_to_contain_text("users")
    page.get_by_label("Target cluster").select_option(label="es")
    page.screenshot(path=str(shots / "restore-wizard.png"), full_page=True)
    page.get_by_role("button", name="Review").click()
    expect(page.get_by_role("heading", name="Review", exact=True)).to_be_visible()
    expect(page.locator("tr", has_text="restored-logs-a")).to_contain_text("logs-current → restored-logs-current")
    expect(page.get_by_text("Aliases are renamed with the indices")).to_be_visible()
    page.screenshot(path=str(shots / "restore-review.png"), full_page=True)
    page.get_by_role("button", name="Start restore").click()
    phase = page.locator("#live [data-phase]")
    expect(phase).to_have_attribute("data-phase", "Succeeded", timeout=60_000)
    for index in ("logs-a", "logs-b"):
        expect(page.locator("td.num[data-docs]").nth(0)).to_be_visible()
        row = page.locator("tr", has_text=f"restored-{index}")
        expect(row).to_contain_text(f"{DOCS[index]:,}".replace(",", "\u202f"))
    page.screenshot(path=str(shots / "restore-done.png"), full_page=True)
    page.get_by_role("link", name="Restores").first.click()
    restored_from = page.locator("tbody tr").first.locator("td").nth(2)
    expect(restored_from).to_contain_text("nightly-repo@")
    expect(restored_from).not_to_contain_text("latest")  # the snapshot actually restored
    page.screenshot(path=str(shots / "restores.png"), full_page=True)
    es(cluster, "POST", "/restored-logs-a/_refresh")
    assert es(cluster, "GET", "/restored-logs-a/_count")["count"] == DOCS["logs-a"]

    # The overview afterwards, wide and narrow
    page.get_by_role("link", name="Overview").click()
    page.screenshot(path=str(shots / "overview.png"), full_page=True)
    page.get_by_role("link", name="nightly", exact=True).click()
    expect(page.locator(".chart svg").first).to_be_visible()
    page.screenshot(path=str(shots / "configuration.png"), full_page=True)
    page.get_by_role("link", name="Team settings").click()
    page.screenshot(path=str(shots / "team-settings.png"), full_page=True)
    page.get_by_role("link", name="Overview").click()
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "overview-390.png"), full_page=True)
    page.get_by_role("button", name="Menu").click()
    expect(page.get_by_role("link", name="Restores")).to_be_visible()
    page.screenshot(path=str(shots / "menu-390.png"))
