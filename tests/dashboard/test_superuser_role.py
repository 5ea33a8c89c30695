"""A superuser in a team where they are a viewer, or no member: the pages say
"superuser" and why they can act, never "owner"."""
from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from storage.models import Secret
from tenancy.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(world: dict[str, Any]) -> User:
    return User.objects.create_superuser("root", "root@example.com", "pw-root-123")


def _client(user: User, team: Any) -> Client:
    c = Client()
    c.force_login(user)
    c.post(reverse("tenancy:team-switch"), {"team": str(team.uuid)})
    return c


def test_a_superuser_who_views_team_a_is_told_why_they_can_act(world: dict[str, Any], root: User) -> None:
    Membership.objects.create(team=world["a"], user=root, role="viewer")
    c = _client(root, world["a"])
    page = c.get(reverse("storage:secret-new")).content.decode()
    assert "· superuser" in page and "· owner" not in page
    assert "your role in this team is viewer, but superusers may create, change and delete everything" in page
    r = c.post(reverse("storage:secret-new"), {"name": "by-root", "values": "RESTIC_PASSWORD=x"})
    assert r.status_code == 302 and Secret.objects.filter(team=world["a"], name="by-root").exists()
    assert c.get(reverse("tenancy:team-settings")).status_code == 200


def test_a_superuser_in_a_team_they_are_not_in(world: dict[str, Any], root: User) -> None:
    c = _client(root, world["b"])
    page = c.get(reverse("dashboard:overview")).content.decode()
    assert "you are not a member of this team" in page and "· superuser" in page


def test_a_superuser_who_owns_the_team_is_an_owner_and_members_see_their_role(
        world: dict[str, Any], root: User, bob: Client) -> None:
    Membership.objects.create(team=world["a"], user=root, role="owner")
    page = _client(root, world["a"]).get(reverse("dashboard:overview")).content.decode()
    assert "· owner" in page and 'id="superuser-notice"' not in page
    page = bob.get(reverse("dashboard:overview")).content.decode()
    assert "· viewer" in page and 'id="superuser-notice"' not in page
