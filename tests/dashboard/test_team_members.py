"""Team settings: owners add, create, invite, re-role and remove members; superusers
create teams (with the quick start's storage and retention policy); staff see the admin."""
from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from storage.models import BackupStorage, RetentionPolicy
from tenancy.models import Membership, Team

pytestmark = pytest.mark.django_db


def _members(team: Team) -> dict[str, str]:
    return dict(Membership.objects.filter(team=team).values_list("user__username", "role"))


def test_an_owner_adds_an_existing_user_by_name_or_e_mail(world: dict[str, Any], alice: Client) -> None:
    User.objects.create_user("dave", "dave@example.com", "pw-dave-123")
    User.objects.create_user("erin", "Erin@Example.com", "pw-erin-123")
    url = reverse("tenancy:member-add")
    assert alice.post(url, {"member-username": "dave", "member-role": "operator"}).status_code == 302
    assert alice.post(url, {"member-username": "erin@example.com", "member-role": "viewer"}).status_code == 302
    assert _members(world["a"]) == {"alice": "owner", "bob": "viewer", "dave": "operator", "erin": "viewer"}
    r = alice.post(url, {"member-username": "nobody", "member-role": "viewer"})
    assert r.status_code == 400 and "No user &#x27;nobody&#x27;: check the spelling, or create the account below." in r.content.decode()
    assert 'value="nobody"' in r.content.decode()  # what was typed stays


def test_a_viewer_and_another_teams_owner_change_no_member(world: dict[str, Any], bob: Client, charlie: Client) -> None:
    before = _members(world["a"])
    alice_m = Membership.objects.get(team=world["a"], user=world["alice"])
    bob_m = Membership.objects.get(team=world["a"], user=world["bob"])
    assert bob.post(reverse("tenancy:member-add"), {"member-username": "charlie", "member-role": "owner"}).status_code == 403
    assert bob.post(reverse("tenancy:member-create"), {"newuser-username": "mallory", "newuser-role": "owner",
                                                         "newuser-access": "invite"}).status_code == 403
    assert bob.post(reverse("tenancy:member-role", args=[bob_m.pk]), {"role": "owner"}).status_code == 403
    assert bob.post(reverse("tenancy:member-remove", args=[alice_m.pk])).status_code == 403
    # charlie owns team B: team A's memberships are not his to see
    assert charlie.post(reverse("tenancy:member-role", args=[bob_m.pk]), {"role": "owner"}).status_code == 404
    assert charlie.post(reverse("tenancy:member-remove", args=[alice_m.pk])).status_code == 404
    assert _members(world["a"]) == before
    assert not User.objects.filter(username="mallory").exists()


def test_the_last_owner_stays(world: dict[str, Any], alice: Client) -> None:
    mine = Membership.objects.get(team=world["a"], user=world["alice"])
    r = alice.post(reverse("tenancy:member-remove", args=[mine.pk]), follow=True)
    assert "A team needs at least one owner" in r.content.decode()
    alice.post(reverse("tenancy:member-role", args=[mine.pk]), {"role": "viewer"})
    assert _members(world["a"])["alice"] == "owner"
    bob_m = Membership.objects.get(team=world["a"], user=world["bob"])
    alice.post(reverse("tenancy:member-role", args=[bob_m.pk]), {"role": "owner"})
    alice.post(reverse("tenancy:member-remove", args=[bob_m.pk]))
    assert "bob" not in _members(world["a"])


def test_an_owner_creates_a_user_with_an_initial_password(world: dict[str, Any], alice: Client) -> None:
    url = reverse("tenancy:member-create")
    r = alice.post(url, {"newuser-username": "frank", "newuser-role": "operator", "newuser-access": "password",
                         "newuser-password": "123"})
    assert r.status_code == 400 and "This password is too short" in r.content.decode()
    assert 'value="frank"' in r.content.decode() and "123" not in re.findall(r'value="([^"]*)"', r.content.decode())
    r = alice.post(url, {"newuser-username": "bob", "newuser-role": "viewer", "newuser-access": "invite"})
    assert r.status_code == 400 and "There is already a user &#x27;bob&#x27;" in r.content.decode()
    r = alice.post(url, {"newuser-username": "frank", "newuser-email": "frank@example.com", "newuser-role": "operator",
                         "newuser-access": "password", "newuser-password": "frank-initial-pw"})
    assert r.status_code == 302
    assert _members(world["a"])["frank"] == "operator"
    signed_in = Client().post(reverse("dashboard:login"), {"username": "frank", "password": "frank-initial-pw"})
    assert signed_in.status_code == 302 and "_auth_user_id" in signed_in.client.session
    assert "frank" not in _members(world["b"])


def test_an_invitation_link_lets_the_new_user_choose_a_password_once(world: dict[str, Any], alice: Client) -> None:
    r = alice.post(reverse("tenancy:member-create"), {"newuser-username": "gina", "newuser-role": "viewer",
                                                        "newuser-access": "invite"})
    assert r.status_code == 200
    link = re.search(r'value="(http://testserver/invite/[^"]+)"', r.content.decode())
    assert link, r.content.decode()
    assert not User.objects.get(username="gina").has_usable_password()
    gina = Client()
    r = gina.get(link.group(1), follow=True)
    assert "Choose your password" in r.content.decode()
    set_url = r.redirect_chain[-1][0]
    r = gina.post(set_url, {"new_password1": "gina-chosen-pw", "new_password2": "gina-chosen-pw"})
    assert r.status_code == 302 and r["Location"] == reverse("dashboard:overview")
    assert "Team A" in gina.get(reverse("dashboard:overview")).content.decode()  # signed in, in team A
    assert "This invitation link does not work" in Client().get(link.group(1), follow=True).content.decode()


def test_a_superuser_creates_a_team_the_way_the_quick_start_makes_the_default_one(
        world: dict[str, Any], alice: Client, settings: Any, tmp_path: Any) -> None:
    from dashboard.management.commands.quickstart import Command

    root = User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    admin = Client()
    admin.force_login(root)
    assert alice.get(reverse("tenancy:team-new")).status_code == 403  # an owner, not a superuser
    r = admin.post(reverse("tenancy:team-new"), {"name": "Search Team", "slug": ""})
    assert r.status_code == 302
    team = Team.objects.get(slug="search-team")
    assert _members(team) == {"root": "owner"}
    r = admin.post(reverse("tenancy:team-new"), {"name": "Search Team", "slug": "search-team"})
    assert r.status_code == 400 and "A team with the slug &#x27;search-team&#x27; exists" in r.content.decode()
    r = admin.post(reverse("tenancy:team-new"), {"name": "Odd", "slug": "Not A Slug"})
    assert r.status_code == 400 and "lowercase letters" in r.content.decode()
    assert admin.post(reverse("tenancy:team-new"), {"name": "Logs", "slug": "logs-prod"}).status_code == 302
    assert Team.objects.filter(slug="logs-prod", name="Logs").exists()

    Command().bootstrap()  # the quick start's default team
    default = Team.objects.get(slug="default")

    def made(t: Team) -> tuple[Any, ...]:
        s = BackupStorage.objects.get(team=t)
        p = RetentionPolicy.objects.get(team=t)
        return (s.name, s.provider, s.default, s.mount_path.removesuffix(t.slug),
                p.name, p.keep_last, p.keep_daily, p.failed_keep_last, p.default)

    assert made(team) == made(default)
    assert BackupStorage.objects.get(team=team).mount_path == str(settings.LOCAL_STORAGE_ROOT / "search-team")


def test_staff_see_a_link_to_the_admin(world: dict[str, Any], alice: Client) -> None:
    admin_link = f'href="{reverse("admin:index")}"'
    assert admin_link not in alice.get(reverse("dashboard:overview")).content.decode()
    world["alice"].is_staff = True
    world["alice"].save()
    assert admin_link in alice.get(reverse("dashboard:overview")).content.decode()


def test_users_made_in_team_settings_and_new_teams_reach_the_audit_log(world: dict[str, Any], alice: Client) -> None:
    from audit.models import Action, Entry

    alice.post(reverse("tenancy:member-create"), {"newuser-username": "hana", "newuser-role": "viewer",
                                                  "newuser-access": "password", "newuser-password": "hana-initial-pw"})
    added = Entry.objects.get(team=world["a"], action=Action.MEMBER_ADDED, target_name="hana")
    assert added.actor == "alice" and added.details == {"role": "viewer"}
    assert "hana-initial-pw" not in str(list(Entry.objects.values()))
    root = User.objects.create_superuser("root", "root@example.com", "pw-root-123")
    admin = Client()
    admin.force_login(root)
    admin.post(reverse("tenancy:team-new"), {"name": "Audited Team", "slug": ""})
    team = Team.objects.get(slug="audited-team")
    assert sorted(Entry.objects.filter(team=team).values_list("action", "actor")) == [
        (Action.CREATED, "root"), (Action.MEMBER_ADDED, "root")]
