"""audit.record(), the append-only guards (ORM and PostgreSQL trigger), retention, sign-ins."""
from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import audit
from audit.log import Actor, Target, client_ip
from audit.models import Action, AppendOnlyError, Entry
from audit.retention import purge
from tests import factories as f

pytestmark = pytest.mark.django_db


def test_record_keeps_who_when_where_which_team_and_what(teams: dict[str, Any], rf: Any) -> None:
    request = rf.post("/secrets/new/", HTTP_USER_AGENT="curl/8", REMOTE_ADDR="203.0.113.7")
    request.user = teams["alice"]
    secret = f.secret(teams["a"], "creds")
    entry = audit.record(request, None, Action.CHANGED, secret, fields=["description", "data.PASSWORD"])
    entry = Entry.objects.get(pk=entry.pk)
    assert (entry.actor, entry.actor_user_id, entry.via, entry.ip, entry.user_agent) == ("alice", teams["alice"].pk, "dashboard",
                                                                                          "203.0.113.7", "curl/8")
    assert (entry.team, entry.team_label, entry.target_kind, entry.target_name, entry.target_uuid) == (
        teams["a"], "team-a", "Secret", "creds", secret.uuid)
    assert entry.fields == ["data.PASSWORD", "description"] and timezone.now() - entry.time < timedelta(seconds=5)


def test_record_refuses_details_that_would_hold_a_secret(teams: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"details.auth.password: the audit log never holds a secret value"):
        audit.record("tester", teams["a"], Action.CHANGED, Target("Cluster", "es"), details={"auth": {"password": "x"}})
    with pytest.raises(ValueError, match="unknown audit action"):
        audit.record("tester", teams["a"], "frobnicated")
    assert not Entry.objects.exists()


def test_a_command_actor_names_the_command_and_the_os_user() -> None:
    import getpass

    actor = Actor.command("apply")
    assert actor.via == "command" and actor.label.startswith(f"manage.py apply ({getpass.getuser()}@")


def test_the_client_address_comes_from_trusted_proxies_only(rf: Any, settings: Any) -> None:
    request = rf.get("/", REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.1, 203.0.113.9")
    assert client_ip(request) == "10.0.0.2"  # no trusted proxy: what the client typed is ignored
    settings.AUDIT_TRUSTED_PROXIES = 1
    assert client_ip(request) == "203.0.113.9"  # the address our proxy saw, not the one left of it


def test_entries_cannot_be_changed_or_deleted_through_the_orm(teams: dict[str, Any]) -> None:
    entry = audit.record("tester", teams["a"], Action.LOGIN)
    entry.actor = "mallory"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        Entry.objects.filter(pk=entry.pk).update(actor="mallory")
    with pytest.raises(AppendOnlyError):
        Entry.objects.all().delete()
    assert Entry.objects.get(pk=entry.pk).actor == "tester"


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger is PostgreSQL's")
def test_the_database_refuses_update_and_delete_from_any_client(teams: dict[str, Any]) -> None:
    entry = audit.record("tester", teams["a"], Action.LOGIN)
    for sql in ("UPDATE audit_entry SET actor = 'mallory' WHERE id = %s", "DELETE FROM audit_entry WHERE id = %s"):
        with pytest.raises(DatabaseError, match="audit_entry is append-only"), transaction.atomic(), connection.cursor() as c:
            c.execute(sql, [entry.pk])
    assert Entry.objects.get(pk=entry.pk).actor == "tester"


def test_deleting_a_team_or_a_user_keeps_their_entries(teams: dict[str, Any]) -> None:
    audit.record(teams["charlie"], teams["b"], Action.CHANGED, teams["b"], fields=["name"])
    teams["charlie"].delete()
    teams["b"].delete()
    entry = Entry.objects.get(team_label="team-b")
    assert entry.actor == "charlie" and entry.target_name == "team-b"


def test_retention_purges_only_old_entries_and_says_so(teams: dict[str, Any], settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 30
    now = timezone.now()
    old = Entry.objects.create(actor="old", via="command", action=Action.LOGIN, time=now - timedelta(days=31))
    recent = Entry.objects.create(actor="recent", via="command", action=Action.LOGIN, time=now - timedelta(days=29))
    assert purge(now) == 1
    assert not Entry.objects.filter(pk=old.pk).exists() and Entry.objects.filter(pk=recent.pk).exists()
    note = Entry.objects.get(action=Action.PURGED)
    assert note.details["entries"] == 1 and note.details["retention_days"] == 30
    settings.AUDIT_RETENTION_DAYS = 0
    Entry.objects.create(actor="ancient", via="command", action=Action.LOGIN, time=now - timedelta(days=3650))
    assert purge(now) == 0  # 0 keeps everything


def test_the_purge_command_and_the_scheduler_purge(teams: dict[str, Any], settings: Any) -> None:
    settings.AUDIT_RETENTION_DAYS = 7
    Entry.objects.create(actor="old", via="command", action=Action.LOGIN, time=timezone.now() - timedelta(days=8))
    out = io.StringIO()
    call_command("audit_purge", stdout=out)
    assert "purged 1 audit entries older than 7 days" in out.getvalue()
    assert Entry.objects.get(action=Action.PURGED).actor.startswith("manage.py audit_purge (")
    settings.AUDIT_RETENTION_DAYS = 0
    with pytest.raises(Exception, match="retention is off"):
        call_command("audit_purge")


def test_the_scheduler_purges_once_an_hour(teams: dict[str, Any], settings: Any, queues: Any) -> None:
    from backups.management.commands.scheduler import Command

    settings.AUDIT_RETENTION_DAYS = 7
    Entry.objects.create(actor="old", via="command", action=Action.LOGIN, time=timezone.now() - timedelta(days=8))
    cmd = Command()
    cmd.redis = queues
    assert cmd.purge_audit(timezone.now()) == ["purged 1 audit entries"]
    Entry.objects.create(actor="old", via="command", action=Action.LOGIN, time=timezone.now() - timedelta(days=8))
    assert cmd.purge_audit(timezone.now()) == []  # not again within the hour


def test_sign_in_sign_out_and_failed_sign_in_are_recorded_without_the_password(teams: dict[str, Any], client: Client) -> None:
    client.post(reverse("dashboard:login"), {"username": "alice", "password": "not-her-password"},
                HTTP_USER_AGENT="Firefox/140", REMOTE_ADDR="192.0.2.10")
    client.post(reverse("dashboard:login"), {"username": "alice", "password": "pw-alice"}, REMOTE_ADDR="192.0.2.10")
    client.post(reverse("dashboard:logout"), REMOTE_ADDR="192.0.2.10")
    entries = list(Entry.objects.order_by("pk"))
    assert [(e.action, e.actor, e.ip, e.team) for e in entries] == [
        ("login-failed", "alice", "192.0.2.10", None), ("login", "alice", "192.0.2.10", None), ("logout", "alice", "192.0.2.10", None)]
    assert entries[0].user_agent == "Firefox/140" and entries[0].details == {"username": "alice"}
    assert entries[1].actor_user_id == teams["alice"].pk
    assert "not-her-password" not in str([e.as_json() for e in entries])
