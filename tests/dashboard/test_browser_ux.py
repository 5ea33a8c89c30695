"""Issue 15's newcomer journeys in Debian's chromium against a live server, one per
point: time zones (3), members and teams (5), a superuser's role (6), the forms and
their "New …" dialogs (7), bin/start's quick start (8), a KubeStash-style directory
(14). They need no search server. Screenshots go to test-output/screenshots/ux/."""
from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from backups.models import BackupSession
from tests import factories as f
from tests.fixtures.live import ROOT, SHOTS, open_page, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

UX_SHOTS = SHOTS / "ux"


@pytest.fixture(autouse=True)
def _ux_shots() -> None:
    UX_SHOTS.mkdir(parents=True, exist_ok=True)


@pytest.fixture
def world(live_server: Any, storage_root: Path, redis_queues: str) -> dict[str, Any]:
    """Before the browser starts (Playwright's sync API runs an event loop in this thread)."""
    a = f.team("team-a", name="Team A")
    alice = f.user("alice", a, "owner", password="alice-pw-123")
    config = f.configuration(a, "nightly", schedule="30 2 * * *")
    session = f.backup_session(config, phase="Succeeded")
    BackupSession.objects.filter(pk=session.pk).update(created=datetime(2026, 1, 15, 12, 0, tzinfo=UTC))
    f.storage(a, "disk")
    root = f.user("root", a, "viewer", password="root-pw-123", is_superuser=True, is_staff=True)
    b = f.team("team-b", name="Team B")
    f.user("charlie", b, "owner", password="charlie-pw-123")
    return {"a": a, "b": b, "alice": alice, "root": root, "config": config}


def test_times_in_the_browsers_zone_then_the_chosen_one(live_server: Any, world: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(browser, timezone_id="Europe/Berlin")
    sign_in(page, live_server.url, "alice", "alice-pw-123")
    expect(page.locator("#time-zone")).to_contain_text("UTC")  # nothing chosen yet: UTC, labelled
    page.wait_for_load_state("networkidle")  # the page saves the browser's zone
    page.get_by_role("link", name="Sessions & snapshots").click()
    expect(page.locator("#time-zone")).to_contain_text("Europe/Berlin")
    expect(page.locator("time[datetime='2026-01-15T12:00:00Z']")).to_have_text("2026-01-15 13:00 CET")
    page.screenshot(path=str(UX_SHOTS / "tz-sessions-berlin.png"), full_page=True)
    page.get_by_role("link", name="Configurations").click()
    page.get_by_role("link", name="nightly").first.click()
    runs = page.locator(".next-runs li")
    expect(runs).to_have_count(5)
    expect(page.get_by_text("in your time zone, Europe/Berlin; the schedule runs in UTC")).to_be_visible()
    assert re.search(r"\d\d:30 CES?T · 02:30 UTC", runs.first.inner_text()), runs.first.inner_text()
    page.screenshot(path=str(UX_SHOTS / "tz-next-runs.png"), full_page=True)
    page.locator("#time-zone a").click()
    page.get_by_label("Time zone").select_option("Asia/Tokyo")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Times are now shown in Asia/Tokyo.")).to_be_visible()
    page.screenshot(path=str(UX_SHOTS / "tz-profile.png"), full_page=True)
    page.get_by_role("link", name="Sessions & snapshots").click()
    expect(page.locator("time[datetime='2026-01-15T12:00:00Z']")).to_have_text("2026-01-15 21:00 JST")


def test_an_owner_invites_a_user_and_a_superuser_makes_a_team(live_server: Any, world: dict[str, Any], browser: Any,
                                                             storage_root: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(browser)
    sign_in(page, live_server.url, "alice", "alice-pw-123")
    expect(page.get_by_role("link", name="Admin", exact=True)).to_have_count(0)  # not staff
    page.get_by_role("link", name="Team settings").click()
    form = page.locator("#new-user")
    form.get_by_label("Username").fill("gina")
    form.get_by_label("Role").select_option("operator")
    page.get_by_role("button", name="Create user").click()
    link = page.get_by_label("Invitation link for gina")
    expect(link).to_be_visible()
    page.screenshot(path=str(UX_SHOTS / "team-invitation.png"), full_page=True)
    invitation = link.input_value()

    gina = open_page(browser)
    gina.goto(invitation)
    expect(gina.get_by_role("heading", name="Choose your password")).to_be_visible()
    gina.get_by_label("New password", exact=True).fill("gina-chosen-pw-1")
    gina.get_by_label("New password confirmation", exact=True).fill("gina-chosen-pw-1")
    gina.screenshot(path=str(UX_SHOTS / "team-invitation-accept.png"), full_page=True)
    gina.get_by_role("button", name="Set password and sign in").click()
    expect(gina.get_by_role("heading", name="Overview")).to_be_visible()
    expect(gina.locator(".sidebar-foot")).to_contain_text("gina · operator")

    page.reload()
    row = page.locator("tr", has_text="gina")
    row.get_by_label("Role of gina").select_option("viewer")
    row.get_by_role("button", name="Change").click()
    expect(page.get_by_text("gina is now viewer.")).to_be_visible()
    page.once("dialog", lambda d: d.accept())
    page.locator("tr", has_text="gina").get_by_role("button", name="Remove").click()
    expect(page.get_by_text("Removed gina from Team A.")).to_be_visible()
    page.screenshot(path=str(UX_SHOTS / "team-settings.png"), full_page=True)

    admin = open_page(browser)
    sign_in(admin, live_server.url, "root", "root-pw-123")
    expect(admin.get_by_role("link", name="Admin", exact=True)).to_be_visible()
    admin.get_by_role("link", name="New team").click()
    admin.get_by_label("Name", exact=True).fill("Search Team")
    expect(admin.get_by_label("Slug")).to_have_value("search-team")  # made from the name, editable
    admin.screenshot(path=str(UX_SHOTS / "team-new.png"), full_page=True)
    admin.get_by_role("button", name="Create team").click()
    expect(admin.get_by_text("Team Search Team created with local-directory storage 'local'")).to_be_visible()
    admin.get_by_role("link", name="Storages").click()
    expect(admin.locator("tbody tr")).to_contain_text("local")
    admin.get_by_role("link", name="Retention policies").click()
    expect(admin.locator("tbody tr")).to_contain_text("keep-a-week")
    admin.screenshot(path=str(UX_SHOTS / "team-new-retention.png"), full_page=True)


def test_a_superuser_who_is_a_viewer_is_told_why_they_can_act(live_server: Any, world: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(browser)
    sign_in(page, live_server.url, "root", "root-pw-123")
    page.get_by_label("Team", exact=True).select_option(label="Team A")
    expect(page.locator(".sidebar-foot")).to_contain_text("root · superuser")
    expect(page.locator(".sidebar-foot")).not_to_contain_text("owner")
    notice = page.locator("#superuser-notice")
    expect(notice).to_contain_text("your role in this team is viewer, but superusers may create, change and delete")
    page.get_by_role("link", name="Secrets").click()
    expect(page.get_by_role("link", name="New secret")).to_be_visible()
    page.screenshot(path=str(UX_SHOTS / "superuser-viewer.png"), full_page=True)
    page.get_by_label("Team", exact=True).select_option(label="Team B")
    expect(page.locator("#superuser-notice")).to_contain_text("you are not a member of this team")
    page.screenshot(path=str(UX_SHOTS / "superuser-not-member.png"), full_page=True)


def test_a_configuration_with_everything_made_in_dialogs(live_server: Any, world: dict[str, Any], browser: Any,
                                                        storage_root: Path) -> None:
    from playwright.sync_api import expect

    page = open_page(browser)
    sign_in(page, live_server.url, "alice", "alice-pw-123")
    page.get_by_role("link", name="Configurations").click()
    page.get_by_role("link", name="New configuration").click()
    page.get_by_label("Name", exact=True).fill("hourly")
    page.get_by_label("Schedule").fill("15 * * * *")
    expect(page.locator("#schedule-preview li")).to_have_count(5)
    dialog = page.locator("#inline-dialog")

    page.get_by_role("button", name="New cluster…").click()
    dialog.get_by_label("Name").fill("logs-es")
    dialog.get_by_label("URLs").fill("http://127.0.0.1:9200")
    page.screenshot(path=str(UX_SHOTS / "dialog-cluster.png"), full_page=True)
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("Cluster to back up").locator("option:checked")).to_have_text("logs-es")

    page.get_by_text("Make a new repository").click()  # the team has a repository: the fields start folded
    page.get_by_label("New repository name").fill("hourly-repo")
    page.get_by_role("button", name="New storage…").click()
    dialog.get_by_label("Name").fill("disk-2")
    dialog.get_by_label("Provider").select_option("local")
    dialog.get_by_label("Mount path").fill(str(storage_root / "nowhere-allowed" / ".." / ".."))
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.locator(".errorlist").first).to_be_visible()  # the error is shown in the dialog
    dialog.get_by_label("Mount path").fill(str(storage_root / "dialog-disk"))
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("in storage").locator("option:checked")).to_have_text("disk-2")
    page.get_by_label("directory").fill("/es/hourly")

    # Submitted without its encryption secret: the error is under that field, nothing typed is lost
    page.get_by_role("button", name="Create and back up").click()
    secret_field = page.locator(".field", has=page.get_by_label("encryption secret"))
    expect(secret_field.locator(".errorlist")).to_contain_text("A new repository needs the secret holding its password")
    expect(page.get_by_label("Name", exact=True)).to_have_value("hourly")
    expect(page.get_by_label("directory")).to_have_value("/es/hourly")
    expect(page.locator("#schedule-preview li")).to_have_count(5)
    expect(page.get_by_text("required for a new repository").first).to_be_visible()
    page.screenshot(path=str(UX_SHOTS / "configuration-error.png"), full_page=True)

    page.get_by_role("button", name="New secret…").click()
    dialog.get_by_label("Name").fill("hourly-key")
    dialog.get_by_label("Values").fill("RESTIC_PASSWORD=dialog-made-password")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_label("encryption secret").locator("option:checked")).to_have_text("hourly-key")
    assert "dialog-made-password" not in page.content()
    page.get_by_role("button", name="Create and back up").click()
    expect(page.get_by_text("Configuration 'hourly' created")).to_be_visible()
    expect(page.locator("a.mono", has_text="hourly-repo")).to_be_visible()
    page.screenshot(path=str(UX_SHOTS / "configuration-created.png"), full_page=True)


def test_a_kubestash_style_directory_in_the_repository_form(live_server: Any, world: dict[str, Any], browser: Any) -> None:
    from playwright.sync_api import expect

    page = open_page(browser)
    sign_in(page, live_server.url, "alice", "alice-pw-123")
    page.goto(live_server.url + "/repositories/new/")
    for field in ("name", "storage", "directory", "encryption_secret"):
        expect(page.locator(f"label[for=id_{field}]")).to_have_class("required")  # drawn with a red *
    page.get_by_label("Name").fill("demo")
    page.get_by_label("Storage").select_option(label="disk")
    page.get_by_label("Directory").fill("/es/demo")
    page.get_by_role("button", name="New secret…").click()
    dialog = page.locator("#inline-dialog")
    dialog.get_by_label("Name").fill("demo-key")
    dialog.get_by_label("Values").fill("RESTIC_PASSWORD=demo-password")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    page.screenshot(path=str(UX_SHOTS / "repository-form.png"), full_page=True)
    page.get_by_role("button", name="Save").click()
    expect(page.locator("dd.mono", has_text="es/demo")).to_have_text("es/demo")
    page.screenshot(path=str(UX_SHOTS / "repository-directory.png"), full_page=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_quick_start_says_what_it_does_and_serves_a_favicon(tmp_path: Path, browser: Any) -> None:
    """`manage.py quickstart` (what bin/start runs after bin/setup) on a fresh data folder:
    SQLite, the embedded Redis, gunicorn on --port."""
    from playwright.sync_api import expect

    port, home = _free_port(), tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "XDG_RUNTIME_DIR")}
    env.update(HOME=str(home), STASHBOARD_DATA_DIR=str(tmp_path / "data"), LOG_FORMAT="json",
               DJANGO_SETTINGS_MODULE="dashboard.settings")
    log = tmp_path / "quickstart.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "manage.py", "quickstart", "--port", str(port)], cwd=ROOT, env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        import time

        deadline = time.monotonic() + 120
        while "Stashboard is running" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.5)
        password = re.search(r"First admin user: admin / (\S+)", log.read_text())
        assert password, log.read_text()
        page = open_page(browser)
        missing: list[str] = []
        page.on("response", lambda r: missing.append(r.url) if r.status == 404 else None)
        base = f"http://127.0.0.1:{port}"
        sign_in(page, base, "admin", password.group(1))
        page.goto(base + "/favicon.ico")
        page.goto(base + "/")
        expect(page.get_by_role("link", name="Admin", exact=True)).to_be_visible()
        page.screenshot(path=str(UX_SHOTS / "quickstart-overview.png"), full_page=True)
        assert missing == []
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=60)
    text = log.read_text()
    for step in ("==> Migrating the database (", "] dashboard.0001_initial", "==> Collecting static files",
                 f"==> Starting the web server on 127.0.0.1:{port}", "stopped Redis"):
        assert step in text, step
    logs = [line for line in text.splitlines() if line.startswith("{")]
    assert any('"logger": "gunicorn.access"' in line and "GET /favicon.ico" in line for line in logs)
    assert any('"logger": "rq.worker"' in line for line in logs)
    assert not (home / ".gunicorn").exists()
