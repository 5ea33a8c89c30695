"""The audit log page and its export, tried by alice (owner of team A: her team's
entries), bob (viewer in team A: 403, the log is for owners), charlie (owner of
team B: only team B's) and a superuser (everything, sign-ins included)."""
from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import audit
from audit.log import Actor, Target
from audit.models import Action, Entry
from tests.dashboard.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def entries(world: dict[str, Any]) -> dict[str, Entry]:
    web = Actor("alice", "dashboard", world["alice"].pk, "203.0.113.5", "Firefox")
    return {
        "recent_delete": audit.record(web, world["a"], Action.DELETED, Target("Secret", "old-creds")),
        "old": Entry.objects.create(team=world["a"], team_label="team-a", actor="alice", via="dashboard", action=Action.DELETED,
                                    target_kind="Secret", target_name="ancient", time=timezone.now() - timedelta(days=40)),
        "a_change": audit.record(web, world["a"], Action.CHANGED, world["storage"], fields=["bucket"]),
        "a_restore": audit.record(Actor.command("restore"), world["a"], Action.RESTORE_STARTED, world["restore"],
                                  details={"target_cluster": "es", "restored_indices": [{"source": "logs-1", "target": "logs-1"}]}),
        "b_change": audit.record(Actor("charlie", "dashboard", world["charlie"].pk), world["b"], Action.CHANGED,
                                 world["other_storage"], fields=["prefix"]),
        "login": audit.record(Actor("alice", "dashboard", world["alice"].pk, "203.0.113.5"), None, Action.LOGIN),
    }


def body(response: Any) -> bytes:
    return b"".join(response.streaming_content)


def shown(client: Client, **params: Any) -> list[str]:
    r = client.get(reverse("audit:audit-log"), params)
    assert r.status_code == 200, r.status_code
    return [name for name in ("ancient", "old-creds", "local", "restore-1", "theirs") if f">{name}<" in r.content.decode()]


def test_owners_read_their_teams_log_and_nobody_else_does(world: dict[str, Any], entries: Any, alice: Client, bob: Client,
                                                          charlie: Client) -> None:
    html = alice.get(reverse("audit:audit-log")).content.decode()
    assert "203.0.113.5" in html and "bucket" in html and "logs-1" in html
    assert shown(alice) == ["ancient", "old-creds", "local", "restore-1"]
    assert shown(charlie) == ["theirs"]
    assert bob.get(reverse("audit:audit-log")).status_code == 403  # a viewer
    assert bob.get(reverse("audit:audit-export")).status_code == 403
    assert "Audit log" not in bob.get(reverse("dashboard:overview")).content.decode()
    assert "Audit log" in alice.get(reverse("dashboard:overview")).content.decode()
    assert Client().get(reverse("audit:audit-log")).status_code == 302  # to the login page


def test_an_owner_reads_only_the_active_teams_log_and_only_as_its_owner(world: dict[str, Any], entries: Any, charlie: Client) -> None:
    from tenancy.models import Membership

    Membership.objects.create(team=world["a"], user=world["charlie"], role="viewer")
    assert charlie.get(reverse("audit:audit-log")).status_code == 403  # team A comes first: a viewer there
    charlie.post(reverse("tenancy:team-switch"), {"team": str(world["b"].uuid)})
    assert shown(charlie) == ["theirs"]  # team B, where charlie is owner: never team A's entries


def test_superusers_read_every_entry_and_filter_by_team(world: dict[str, Any], entries: Any) -> None:
    root = client_for(User.objects.create_superuser("root", password="pw-root"))
    assert shown(root) == ["ancient", "old-creds", "local", "restore-1", "theirs"]
    assert shown(root, team="team-b") == ["theirs"]
    r = root.get(reverse("audit:audit-log"), {"team": "-"})
    assert "signed in" in r.content.decode() and ">local<" not in r.content.decode()


def test_filters_by_actor_action_kind_and_time(world: dict[str, Any], entries: Any, alice: Client) -> None:
    assert shown(alice, actor="manage.py restore") == ["restore-1"]
    assert shown(alice, action="deleted") == ["ancient", "old-creds"]
    assert shown(alice, kind="BackupStorage") == ["local"]
    today = timezone.now().date()
    assert shown(alice, since=str(today - timedelta(days=1))) == ["old-creds", "local", "restore-1"]
    assert shown(alice, until=str(today - timedelta(days=30))) == ["ancient"]
    # the kinds offered are the team's own: team B's are not named
    html = alice.get(reverse("audit:audit-log")).content.decode()
    assert '<option value="BackupStorage"' in html and '<option value="RestoreSession"' in html


def test_a_bad_filter_says_what_to_fix_under_its_field_and_keeps_what_was_typed(world: dict[str, Any], entries: Any,
                                                                                 alice: Client) -> None:
    r = alice.get(reverse("audit:audit-log"), {"since": "yesterday", "actor": "ali"})
    assert r.status_code == 400
    html = r.content.decode()
    assert 'id="id_since_error"' in html and "Enter a date as YYYY-MM-DD." in html
    assert 'value="yesterday"' in html and 'value="ali"' in html
    r = alice.get(reverse("audit:audit-log"), {"since": "2026-05-02", "until": "2026-05-01"})
    assert r.status_code == 400 and "is before" in r.content.decode()
    assert alice.get(reverse("audit:audit-export"), {"since": "yesterday"}).status_code == 400


def test_htmx_gets_the_results_partial(world: dict[str, Any], entries: Any, alice: Client) -> None:
    r = alice.get(reverse("audit:audit-log"), {"action": "changed"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert html.lstrip().startswith('<section class="card flush" id="results">') and ">local<" in html
    assert "HX-Request" in r["Vary"]


def test_the_page_makes_a_bounded_number_of_queries(world: dict[str, Any], entries: Any, alice: Client,
                                                     django_assert_max_num_queries: Any) -> None:
    for i in range(60):
        audit.record(world["alice"], world["a"], Action.CHANGED, Target("Secret", f"s-{i}"), fields=["description"])
    with django_assert_max_num_queries(12):
        r = alice.get(reverse("audit:audit-log"))
    assert "Page 1 of 2" in r.content.decode()


def test_export_streams_json_lines_with_the_same_scope_and_filters(world: dict[str, Any], entries: Any, alice: Client,
                                                                   charlie: Client) -> None:
    r = alice.get(reverse("audit:audit-export"))
    assert r.streaming and r["Content-Type"] == "application/x-ndjson"
    assert r["Content-Disposition"].startswith('attachment; filename="audit-')
    lines = [json.loads(line) for line in body(r).decode().splitlines()]
    assert [(e["action"], e["target"]["name"]) for e in lines] == [
        ("restore-started", "restore-1"), ("changed", "local"), ("deleted", "old-creds"), ("deleted", "ancient")]
    assert lines[1] == {**lines[1], "team": "team-a", "actor": "alice", "ip": "203.0.113.5", "fields": ["bucket"],
                        "target": {"kind": "BackupStorage", "name": "local", "uuid": str(world["storage"].uuid)}}
    r = alice.get(reverse("audit:audit-export"), {"action": "changed"})
    assert [json.loads(x)["target"]["name"] for x in body(r).splitlines()] == ["local"]
    r = charlie.get(reverse("audit:audit-export"))
    assert [json.loads(x)["target"]["name"] for x in body(r).splitlines()] == ["theirs"]
