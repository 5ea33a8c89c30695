"""Team roles from the groups claim, and what a sign-in changes (sso.claims, sso.backend.sync_memberships)."""
from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from audit.log import Actor
from audit.models import Entry
from sso.backend import sync_memberships
from sso.claims import team_roles
from sso.models import ClaimedMembership
from tenancy.models import Membership
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_groups_give_the_strongest_role_per_team_and_other_groups_are_ignored() -> None:
    roles, ignored = team_roles(["stashboard:team-a:viewer", "stashboard:team-a:operator", "stashboard:team-b:owner",
                                 "other-app:admin", "stashboard:team-c:admin", "stashboard:owner"], "stashboard:")
    assert roles == {"team-a": ("operator", "stashboard:team-a:operator"), "team-b": ("owner", "stashboard:team-b:owner")}
    assert ignored == ["stashboard:team-c:admin", "stashboard:owner"]
    assert team_roles("stashboard:team-a:viewer", "stashboard:")[0] == {"team-a": ("viewer", "stashboard:team-a:viewer")}
    assert team_roles(None, "stashboard:") == ({}, [])


def test_a_sign_in_sets_claimed_roles_removes_stale_claimed_ones_and_keeps_local_ones(teams: dict[str, Any]) -> None:
    c = f.team("team-c")
    ada = f.user("ada")
    actor = Actor("ada", "sso", ada.pk)
    sync_memberships(ada, {"team-a": ("operator", "stashboard:team-a:operator")}, actor)
    assert Membership.objects.get(user=ada).role == "operator"
    Membership.objects.create(team=c, user=ada, role="viewer")  # an owner added ada by hand
    Membership.objects.filter(user=ada, team=teams["a"]).update(role="viewer")  # changed by hand: the claim wins again
    sync_memberships(ada, {"team-a": ("operator", "stashboard:team-a:operator"), "team-b": ("owner", "stashboard:team-b:owner")}, actor)
    assert dict(Membership.objects.filter(user=ada).values_list("team__slug", "role")) == {
        "team-a": "operator", "team-b": "owner", "team-c": "viewer"}
    sync_memberships(ada, {"team-b": ("viewer", "stashboard:team-b:viewer")}, actor)
    assert dict(Membership.objects.filter(user=ada).values_list("team__slug", "role")) == {"team-b": "viewer", "team-c": "viewer"}
    assert not ClaimedMembership.objects.filter(membership__team=c).exists()
    assert [(e.action, e.team_label, e.via) for e in Entry.objects.order_by("pk")] == [
        ("member-added", "team-a", "sso"), ("member-role-changed", "team-a", "sso"), ("member-added", "team-b", "sso"),
        ("member-role-changed", "team-b", "sso"), ("member-removed", "team-a", "sso")]


def test_a_claim_takes_over_a_local_membership_in_a_team_it_names(teams: dict[str, Any]) -> None:
    bob = teams["bob"]  # viewer in team A, given by hand
    sync_memberships(bob, {"team-a": ("operator", "stashboard:team-a:operator")}, Actor("bob", "sso", bob.pk))
    assert Membership.objects.get(user=bob).role == "operator"
    sync_memberships(bob, {}, Actor("bob", "sso", bob.pk))  # now claim-managed: a claim without it removes it
    assert not Membership.objects.filter(user=bob).exists()


def test_without_configuration_the_sso_endpoints_are_not_found(client: Any, settings: Any) -> None:
    settings.OIDC_ENABLED = False
    assert client.get(reverse("sso:oidc_authentication_init")).status_code == 404
    assert client.get(reverse("sso:oidc_authentication_callback")).status_code == 404
    assert 'id="sso-login"' not in client.get(reverse("dashboard:login")).content.decode()


def test_oidc_only_hides_and_refuses_password_sign_in_also_in_the_admin(teams: dict[str, Any], client: Any, settings: Any) -> None:
    settings.OIDC_ENABLED, settings.OIDC_ONLY = True, True
    settings.AUTHENTICATION_BACKENDS = ["sso.backend.StashboardOIDCBackend"]
    html = client.get(reverse("dashboard:login")).content.decode()
    assert 'id="sso-login"' in html and 'name="password"' not in html
    r = client.post(reverse("dashboard:login"), {"username": "alice", "password": "pw-alice"})
    assert r.status_code == 403 and "Password sign-in is turned off here: use single sign-on." in r.content.decode()
    assert "_auth_user_id" not in client.session
    r = client.get("/admin/login/?next=/admin/")
    assert r.status_code == 302 and r["Location"] == reverse("dashboard:login") + "?next=%2Fadmin%2F"
    settings.OIDC_ONLY = False
    settings.AUTHENTICATION_BACKENDS = ["django.contrib.auth.backends.ModelBackend"]
    assert client.get("/admin/login/").status_code == 200


def test_incomplete_sso_settings_stop_the_start_saying_what_is_missing() -> None:
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    for env, message in [({"OIDC_RP_CLIENT_ID": "stashboard"}, "OIDC_RP_CLIENT_ID is set but OIDC_OP_AUTHORIZATION_ENDPOINT"),
                         ({"OIDC_ONLY": "true"}, "OIDC_ONLY=true needs single sign-on: set OIDC_RP_CLIENT_ID")]:
        run = subprocess.run([sys.executable, "manage.py", "check"], cwd=root, capture_output=True, text=True,
                             env={**os.environ, **env}, timeout=120)
        assert run.returncode != 0 and message in run.stderr
