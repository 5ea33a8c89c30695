"""The keys section of a repository page (issue 16.4): alice (owner) lists, adds, removes
and changes passwords; bob (viewer) gets 403; charlie (other team) 404."""
from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import Entry
from storage import flows
from storage.repo import Repository as EngineRepository
from storage.repo import WrongPassword
from storage.repo import keys as repo_keys

pytestmark = pytest.mark.django_db
FAST_KDF = {"time_cost": 1, "memory_cost": 1024, "parallelism": 1}


@pytest.fixture
def engine(world: dict[str, Any]) -> EngineRepository:
    repo = world["repo"]
    return EngineRepository.init(flows.repository_backend(repo), repo.password(), kdf_params=FAST_KDF)


def urls(repo: Any) -> dict[str, str]:
    return {name: reverse(f"storage:repository-{name}", args=[repo.uuid])
            for name in ("keys", "key-add", "key-remove", "passwd")}


def test_the_owner_lists_the_keys_and_the_page_loads_them(world: dict[str, Any], alice: Client, engine: EngineRepository) -> None:
    page = alice.get(reverse("storage:repository-detail", args=[world["repo"].uuid])).content.decode()
    assert f'hx-get="{urls(world["repo"])["keys"]}"' in page
    r = alice.get(urls(world["repo"])["keys"], HTTP_HX_REQUEST="true")
    body = r.content.decode()
    assert r.status_code == 200 and engine.key_id[:8] in body and "the secret's password" in body
    assert "<html" not in body and 'id="keys"' in body


def test_viewers_and_other_teams_cannot_see_or_change_keys(world: dict[str, Any], bob: Client, charlie: Client,
                                                           engine: EngineRepository) -> None:
    u = urls(world["repo"])
    assert "repository-keys" not in bob.get(reverse("storage:repository-detail", args=[world["repo"].uuid])).content.decode()
    for name, url in u.items():
        data = {"key_id": engine.key_id, "add-new_password": "a long pass", "add-confirm": "a long pass",
                "passwd-new_password": "a long pass", "passwd-confirm": "a long pass"}
        if name == "keys":
            assert bob.get(url).status_code == 403 and charlie.get(url).status_code == 404
        else:
            assert bob.post(url, data).status_code == 403 and charlie.post(url, data).status_code == 404
    assert [k.id for k in repo_keys.list_keys(engine)] == [engine.key_id]
    assert world["repo"].password() == "correct horse battery staple"
    assert not Entry.objects.filter(target_kind="Repository").exists()


def test_the_owner_adds_and_removes_a_password(world: dict[str, Any], alice: Client, engine: EngineRepository) -> None:
    u, backend = urls(world["repo"]), flows.repository_backend(world["repo"])
    r = alice.post(u["key-add"], {"add-new_password": "a long pass", "add-confirm": "not the same"})
    assert r.status_code == 400 and "The two passwords differ" in r.content.decode()
    assert 'value="a long pass"' not in r.content.decode()
    r = alice.post(u["key-add"], {"add-new_password": "short", "add-confirm": "short"})
    assert r.status_code == 400 and "at least 8 characters" in r.content.decode()
    r = alice.post(u["key-add"], {"add-new_password": "a long pass", "add-confirm": "a long pass"})
    assert r.status_code == 302
    added = EngineRepository.open(backend, "a long pass").key_id
    assert "Added key" in alice.get(u["keys"]).content.decode()
    r = alice.post(u["key-remove"], {"key_id": engine.key_id}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and "open it with another key" in r.content.decode()
    r = alice.post(u["key-remove"], {"key_id": added}, HTTP_HX_REQUEST="true")
    assert r.status_code == 200 and f"Removed key {added[:8]}" in r.content.decode()
    with pytest.raises(WrongPassword):
        EngineRepository.open(backend, "a long pass")
    entries = list(Entry.objects.filter(target_kind="Repository").order_by("pk").values_list("action", "actor", "details"))
    assert entries == [("repository-key-added", "alice", {"key": added}), ("repository-key-removed", "alice", {"key": added})]


def test_the_owner_changes_the_secrets_password(world: dict[str, Any], alice: Client, engine: EngineRepository) -> None:
    u, backend = urls(world["repo"]), flows.repository_backend(world["repo"])
    r = alice.post(u["passwd"], {"passwd-new_password": "correct horse battery staple",
                                 "passwd-confirm": "correct horse battery staple"})
    assert r.status_code == 400 and "This is the current password" in r.content.decode()
    r = alice.post(u["passwd"], {"passwd-new_password": "brand new password", "passwd-confirm": "brand new password"})
    assert r.status_code == 302
    world["repo"].encryption_secret.refresh_from_db()
    assert world["repo"].password() == "brand new password"
    assert EngineRepository.open(backend, "brand new password").key_id != engine.key_id
    with pytest.raises(WrongPassword):
        EngineRepository.open(backend, "correct horse battery staple")
    entry = Entry.objects.get(action="repository-password-changed")
    assert (entry.actor, entry.target_name, entry.details) == ("alice", "repo", {"encryption_secret": world["secret"].name})
    assert "brand new password" not in str(list(Entry.objects.values()))


def test_a_secret_shared_with_another_repository_is_not_changed(world: dict[str, Any], alice: Client,
                                                                 engine: EngineRepository) -> None:
    from tests import factories as f

    f.repository(world["a"], "sibling", storage_obj=world["storage"], secret_obj=world["secret"])
    r = alice.post(urls(world["repo"])["passwd"], {"passwd-new_password": "brand new password",
                                                   "passwd-confirm": "brand new password"})
    assert r.status_code == 400 and "is also the password of sibling" in r.content.decode()
    assert world["repo"].password() == "correct horse battery staple"
    assert [k.id for k in repo_keys.list_keys(engine)] == [engine.key_id]


def test_a_repository_that_cannot_be_opened_says_why(world: dict[str, Any], alice: Client) -> None:
    r = alice.get(urls(world["repo"])["keys"])
    assert r.status_code == 200 and "Cannot list the keys: no repository at" in r.content.decode()


def test_a_change_to_a_repository_that_cannot_be_opened_says_why_and_changes_nothing(world: dict[str, Any],
                                                                                     alice: Client) -> None:
    u = urls(world["repo"])
    for name, data in (("key-add", {"add-new_password": "a long pass", "add-confirm": "a long pass"}),
                       ("key-remove", {"key_id": "0" * 64}),
                       ("passwd", {"passwd-new_password": "brand new password", "passwd-confirm": "brand new password"})):
        r = alice.post(u[name], data, HTTP_HX_REQUEST="true")
        assert r.status_code == 400 and "no repository at" in r.content.decode(), name
    assert world["repo"].password() == "correct horse battery staple"
    assert not Entry.objects.filter(target_kind="Repository").exists()
