"""API tokens in Team settings: alice (owner of A) makes and revokes them, bob (viewer
in A) and charlie (owner of B) cannot touch A's."""
from __future__ import annotations

from typing import Any

from django.test import Client

from api import signals
from api.models import ApiToken, hash_token
from tests.api.conftest import Api


def logged_in(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_an_owner_makes_a_token_that_is_shown_once_and_stored_hashed(world: dict[str, Any]) -> None:
    alice = logged_in(world["alice"])
    settings_page = alice.get("/team/")
    assert b"API tokens" in settings_page.content and b"rw token" in settings_page.content
    seen: list[dict[str, Any]] = []

    def receiver(**kw: Any) -> None:
        seen.append(kw)

    signals.token_created.connect(receiver)
    try:
        answer = alice.post("/team/tokens/new/", {"token-name": "deploy pipeline", "token-scope": "write"})
    finally:
        signals.token_created.disconnect(receiver)
    assert answer.status_code == 200
    assert "no-store" in answer["Cache-Control"]
    token = ApiToken.objects.get(team=world["a"], name="deploy pipeline")
    value = answer.context["value"]
    assert value.encode() in answer.content and token.key_hash == hash_token(value) and value.startswith(token.prefix)
    assert value not in str(ApiToken.objects.filter(pk=token.pk).values().get())
    assert [(s["token"], s["user"]) for s in seen] == [(token, world["alice"])]
    # shown once: the settings page lists it by its prefix only
    listed = alice.get("/team/")
    assert token.prefix.encode() in listed.content and value.encode() not in listed.content
    assert Api(value).get("/backupconfigurations").status_code == 200


def test_a_bad_name_is_refused_and_kept(world: dict[str, Any]) -> None:
    answer = logged_in(world["alice"]).post("/team/tokens/new/", {"token-name": "x" * 101, "token-scope": "write"})
    assert answer.status_code == 400
    assert b"at most 100 characters" in answer.content and b"x" * 101 in answer.content
    assert not ApiToken.objects.filter(name__startswith="xxx").exists()


def test_an_owner_revokes_a_token_and_it_stops_working(world: dict[str, Any]) -> None:
    token = ApiToken.objects.get(team=world["a"], name="rw token")
    seen: list[Any] = []
    signals.token_revoked.connect(lambda **kw: seen.append(kw["token"].name), weak=False, dispatch_uid="t")
    try:
        answer = logged_in(world["alice"]).post(f"/team/tokens/{token.uuid}/revoke/")
    finally:
        signals.token_revoked.disconnect(dispatch_uid="t")
    assert answer.status_code == 302 and seen == ["rw token"]
    assert not ApiToken.objects.filter(pk=token.pk).exists()
    assert Api(world["tokens"]["rw"]).get("/backupconfigurations").status_code == 401


def test_a_viewer_cannot_make_or_revoke_tokens(world: dict[str, Any]) -> None:
    bob = logged_in(world["bob"])
    token = ApiToken.objects.get(team=world["a"], name="rw token")
    assert bob.post("/team/tokens/new/", {"token-name": "mine", "token-scope": "write"}).status_code == 403
    assert bob.post(f"/team/tokens/{token.uuid}/revoke/").status_code == 403
    assert not ApiToken.objects.filter(name="mine").exists() and ApiToken.objects.filter(pk=token.pk).exists()


def test_another_teams_owner_cannot_revoke_our_token_and_makes_tokens_for_their_own_team(world: dict[str, Any]) -> None:
    charlie = logged_in(world["charlie"])
    token = ApiToken.objects.get(team=world["a"], name="rw token")
    assert charlie.post(f"/team/tokens/{token.uuid}/revoke/").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()
    assert b"rw token" not in charlie.get("/team/").content
    charlie.post("/team/tokens/new/", {"token-name": "b's", "token-scope": "read"})
    assert ApiToken.objects.get(name="b's").team == world["b"]


def test_the_admin_lists_tokens_but_cannot_make_them(world: dict[str, Any]) -> None:
    world["alice"].is_staff = True
    world["alice"].save()
    admin = logged_in(world["alice"])
    assert admin.get("/admin/api/apitoken/").status_code == 200
    assert admin.get("/admin/api/apitoken/add/").status_code == 403
