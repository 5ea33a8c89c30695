"""What the API does reaches the audit log: tokens made and revoked in Team settings,
and every write made with a token, under the token's team and never with a value."""
from __future__ import annotations

from typing import Any

from django.test import Client

from api.models import ApiToken
from audit.models import Action, Entry
from tests.api.conftest import Api


def _entries(team: Any) -> list[tuple[str, str, str]]:
    return [(e.action, e.target_kind, e.target_name) for e in Entry.objects.filter(team=team).order_by("id")]


def test_tokens_made_and_revoked_are_recorded_without_their_value(world: dict[str, Any]) -> None:
    alice = Client()
    alice.force_login(world["alice"])
    answer = alice.post("/team/tokens/new/", {"token-name": "deploy pipeline", "token-scope": "write"})
    value = answer.context["value"]
    token = ApiToken.objects.get(team=world["a"], name="deploy pipeline")
    alice.post(f"/team/tokens/{token.uuid}/revoke/")
    made, revoked = Entry.objects.filter(team=world["a"], target_kind="ApiToken").order_by("id")
    assert (made.action, revoked.action) == (Action.TOKEN_CREATED, Action.TOKEN_REVOKED)
    assert made.actor == "alice" and made.details == {"scope": "write"} and token.prefix in made.target_name
    stored = str(list(Entry.objects.values()))
    assert value not in stored and token.key_hash not in stored
    assert not Entry.objects.filter(team=world["b"]).exists()


def test_writes_through_the_api_are_recorded_under_the_tokens_team(world: dict[str, Any], rw: Api, other: Api) -> None:
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds"},
           "stringData": {"AWS_SECRET_ACCESS_KEY": "very-secret-value"}}
    assert rw.post("/secrets", doc).status_code == 201
    assert rw.post("/backupsessions/nightly-running/cancel").status_code == 200
    assert rw.post("/restoresessions/restore-2/cancel").status_code == 200
    assert (Action.CREATED, "Secret", "s3-creds") in _entries(world["a"])
    assert (Action.BACKUP_CANCELLED, "BackupSession", "nightly-running") in _entries(world["a"])
    assert (Action.RESTORE_CANCELLED, "RestoreSession", "restore-2") in _entries(world["a"])
    entry = Entry.objects.get(team=world["a"], target_name="s3-creds")
    assert entry.via == "api" and "rw token" in entry.actor and "alice" in entry.actor
    assert "very-secret-value" not in str(list(Entry.objects.values()))
    # a read and a refused write leave nothing; charlie's token cannot cancel A's restore
    before = Entry.objects.count()
    rw.get("/secrets")
    assert other.post("/restoresessions/restore-1/cancel").status_code == 404
    assert Entry.objects.count() == before
