"""Single sign-on end to end, in Debian's chromium: a real OpenID Connect provider
(node-oidc-provider, tests/peers/oidc_provider.mjs) with users whose groups claim
names teams; the live server configured from the provider's discovery document.

ada signs in through the provider → operator in team A (made by the claim) → her
groups change at the provider → the next sign-in makes her owner of team B, removes
team A, keeps a membership an owner gave by hand → eve, in no Stashboard group, is
refused with the reason → a wrong password at the provider never reaches us →
OIDC_ONLY leaves only the single sign-on button. The audit log has every step.
Screenshots: test-output/screenshots/sso/."""
from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import pytest
from django.core.management import call_command

from audit.models import Entry
from sso.models import Identity
from tenancy.models import Membership
from tests import factories as f
from tests.fixtures.live import SHOTS, open_page
from tests.peers.oidc import OIDCProvider, start_oidc_provider

pytestmark = [pytest.mark.browser, pytest.mark.slow]

T = TypeVar("T")
IDP_USERS = {
    "ada": {"password": "ada-idp-pw", "email": "ada@example.com", "groups": ["stashboard:team-a:operator", "wiki:editor"]},
    "eve": {"password": "eve-idp-pw", "email": "eve@example.com", "groups": ["wiki:reader"]},
}


def in_thread(fn: Callable[[], T]) -> T:
    """Database calls from a thread of their own: Playwright's sync API runs an event
    loop in the test's thread, where Django refuses them."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(fn).result()


@pytest.fixture
def idp(live_server: Any, tmp_path: Path, settings: Any) -> Iterator[OIDCProvider]:
    with start_oidc_provider(tmp_path, [f"{live_server.url}/oidc/callback/"], IDP_USERS) as provider:
        out = io.StringIO()
        call_command("oidc_discover", provider.issuer, stdout=out)  # the command an operator runs
        for line in out.getvalue().splitlines():
            name, _, value = line.partition("=")
            setattr(settings, name, value)
        settings.OIDC_RP_CLIENT_ID, settings.OIDC_RP_CLIENT_SECRET = provider.client_id, provider.client_secret
        settings.OIDC_ENABLED = True
        settings.AUTHENTICATION_BACKENDS = ["sso.backend.StashboardOIDCBackend", "django.contrib.auth.backends.ModelBackend"]
        yield provider


@pytest.fixture
def world(live_server: Any) -> dict[str, Any]:
    a, b, c = f.team("team-a", name="Team A"), f.team("team-b", name="Team B"), f.team("team-c", name="Team C")
    return {"a": a, "b": b, "c": c, "alice": f.user("alice", a, "owner", password="alice-pw-123")}


@pytest.fixture
def page(live_server: Any, world: Any, idp: OIDCProvider, browser: Any) -> Any:
    (SHOTS / "sso").mkdir(parents=True, exist_ok=True)
    return open_page(browser)


def sign_in_at_the_idp(page: Any, base: str, username: str, password: str) -> None:
    page.goto(base + "/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.get_by_label("IdP username").fill(username)
    page.get_by_label("IdP password").fill(password)
    page.get_by_role("button", name="Sign in at the IdP").click()


def sign_out(page: Any) -> None:
    page.get_by_role("button", name="Sign out").click()
    page.context.clear_cookies()  # the provider's session too: the next sign-in asks for the password again


def test_single_sign_on_maps_the_groups_claim_to_team_roles(live_server: Any, page: Any, idp: OIDCProvider, world: Any,
                                                             settings: Any) -> None:
    from playwright.sync_api import expect

    base, shots = live_server.url, SHOTS / "sso"
    page.goto(base + "/login/")
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    page.screenshot(path=str(shots / "01-login.png"))

    # First sign-in: the account is made, team A as the claim says
    sign_in_at_the_idp(page, base, "ada", "ada-idp-pw")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    expect(page.locator(".sidebar-foot")).to_contain_text("ada")
    expect(page.locator(".sidebar-foot")).to_contain_text("operator")
    page.screenshot(path=str(shots / "02-signed-in-operator.png"))
    ada = in_thread(lambda: Identity.objects.select_related("user").get(subject="ada").user)
    assert ada.email == "ada@example.com" and not ada.has_usable_password()
    assert in_thread(lambda: dict(Membership.objects.filter(user=ada).values_list("team__slug", "role"))) == {"team-a": "operator"}
    sign_out(page)

    # The provider now says: owner of team B. An owner gave ada team C by hand meanwhile.
    idp.set_users({"ada": {**IDP_USERS["ada"], "groups": ["stashboard:team-b:owner"]}})
    in_thread(lambda: Membership.objects.create(team=world["c"], user=ada, role="viewer"))
    sign_in_at_the_idp(page, base, "ada", "ada-idp-pw")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
    assert in_thread(lambda: dict(Membership.objects.filter(user=ada).values_list("team__slug", "role"))) == {
        "team-b": "owner", "team-c": "viewer"}
    # owner of team B now: its audit log shows what the claim did there, and nothing of team A
    page.get_by_role("link", name="Audit log").click()
    row = page.locator("#results tbody tr").first
    expect(row).to_contain_text("member added")
    expect(row).to_contain_text("sso")
    expect(page.locator("#results")).not_to_contain_text("member removed")  # that was team A
    page.screenshot(path=str(shots / "03-audit-log.png"), full_page=True)
    sign_out(page)

    # A wrong password stays at the provider: nothing reaches Stashboard
    page.goto(base + "/login/")
    page.get_by_role("link", name="Sign in with single sign-on").click()
    page.get_by_label("IdP username").fill("ada")
    page.get_by_label("IdP password").fill("not-the-password")
    page.get_by_role("button", name="Sign in at the IdP").click()
    expect(page.get_by_role("alert")).to_have_text("Wrong IdP username or password.")

    # eve is in no Stashboard group: refused, saying why
    sign_in_at_the_idp(page, base, "eve", "eve-idp-pw")
    expect(page.get_by_role("alert")).to_contain_text("Single sign-on failed: the 'groups' claim names no Stashboard team")
    page.screenshot(path=str(shots / "04-refused.png"))
    assert not in_thread(lambda: Identity.objects.filter(subject="eve").exists())

    entries = in_thread(lambda: [(e.action, e.actor, e.via, e.team_label, e.target_name)
                                 for e in Entry.objects.exclude(action="logout").order_by("pk")])
    assert entries == [
        ("member-added", "ada", "sso", "team-a", "ada"), ("login", "ada", "sso", "", ""),
        ("member-added", "ada", "sso", "team-b", "ada"), ("member-removed", "ada", "sso", "team-a", "ada"),
        ("login", "ada", "sso", "", ""), ("login-failed", "eve", "sso", "", "")]
    refused = in_thread(lambda: Entry.objects.get(action="login-failed"))
    assert refused.ip == "127.0.0.1" and "wiki:reader" not in refused.details["reason"]

    # Password sign-in turned off: only the button is left
    settings.OIDC_ONLY = True
    settings.AUTHENTICATION_BACKENDS = ["sso.backend.StashboardOIDCBackend"]
    page.goto(base + "/login/")
    expect(page.get_by_role("link", name="Sign in with single sign-on")).to_be_visible()
    expect(page.get_by_label("Password")).to_have_count(0)
    page.screenshot(path=str(shots / "05-oidc-only.png"))
    page.context.clear_cookies()  # eve's session at the provider
    sign_in_at_the_idp(page, base, "ada", "ada-idp-pw")
    expect(page.get_by_role("heading", name="Overview")).to_be_visible()
