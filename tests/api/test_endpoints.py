"""Every kind through /api/v1 in the shapes of `manage.py export`, with apply's
messages, and every endpoint tried with another team's token and a read-only one."""
from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from api import signals
from api.models import ApiToken
from dashboard import resources
from storage.models import BackupStorage, RetentionPolicy, Secret
from tenancy.manifests import ManifestError
from tests.api.conftest import Api

# A name of team A's for each path's {name} (tests.api.conftest.world).
NAMES = {"secrets": "repo-key", "backupstorages": "local", "retentionpolicies": "keep-5", "appbindings": "es",
         "repositories": "repo", "backupconfigurations": "nightly", "backupsessions": "nightly-running",
         "snapshots": "nightly-done-repo", "restoresessions": "restore-2", "backupverifiers": "weekly-check",
         "backupblueprints": "gold"}
KINDS = {"secrets": "Secret", "backupstorages": "BackupStorage", "retentionpolicies": "RetentionPolicy",
         "appbindings": "AppBinding", "repositories": "Repository", "backupconfigurations": "BackupConfiguration",
         "backupsessions": "BackupSession", "snapshots": "Snapshot", "restoresessions": "RestoreSession",
         "backupverifiers": "BackupVerifier", "backupblueprints": "BackupBlueprint"}


def operations() -> list[tuple[str, str]]:
    schema = Client().get("/api/v1/schema").json()
    return [(method.upper(), path.removeprefix("/api/v1")) for path, item in schema["paths"].items() for method in item]


def team_a_state(world: dict[str, Any]) -> str:
    return json.dumps(resources.export([world["a"]], include_secret_values=True), sort_keys=True, default=str)


def concrete(path: str) -> str:
    plural = path.split("/")[1]
    return path.replace("{name}", NAMES[plural])


def body_for(world: dict[str, Any], method: str, path: str) -> Any:
    plural = path.split("/")[1]
    if path.endswith("/backup"):
        return {"session": "full"}
    if path.endswith("/check"):
        return {"readData": True}
    if method in ("POST", "PUT") and path.count("/") <= 2:
        kind = resources.BY_KIND[KINDS[plural]]
        obj = kind.model.objects.get(team=world["a"], name=NAMES[plural])
        doc = resources.to_manifest(kind, obj)
        if method == "POST":
            doc["metadata"]["name"] = "copy"
        return doc
    return None


def test_the_schema_lists_every_kind_and_action(world: dict[str, Any]) -> None:
    ops = set(operations())
    for plural in NAMES:
        assert ("GET", f"/{plural}") in ops and ("GET", f"/{plural}/{{name}}") in ops
    for plural in ("secrets", "backupstorages", "retentionpolicies", "appbindings", "repositories", "backupconfigurations",
                   "backupverifiers"):
        assert {("POST", f"/{plural}"), ("PUT", f"/{plural}/{{name}}"), ("DELETE", f"/{plural}/{{name}}")} <= ops
    assert {("POST", "/restoresessions"), ("POST", "/backupconfigurations/{name}/backup"), ("POST", "/backupsessions/{name}/cancel"),
            ("POST", "/restoresessions/{name}/cancel"), ("POST", "/repositories/{name}/check"),
            ("GET", "/repositories/{name}/snapshots"), ("GET", "/snapshots/{name}/indices"),
            ("POST", "/backupverifiers/{name}/verify")} <= ops


def test_lists_and_gets_are_the_export_shapes(world: dict[str, Any], rw: Api) -> None:
    for plural, kind in KINDS.items():
        listed = rw.get(f"/{plural}")
        assert listed.status_code == 200, (plural, listed.content)
        exported = resources.export([world["a"]], kinds=[kind])
        assert sorted(listed.json()["items"], key=lambda d: d["metadata"]["name"]) == \
            sorted(exported, key=lambda d: d["metadata"]["name"])
        one = rw.get(f"/{plural}/{NAMES[plural]}")
        assert one.status_code == 200
        assert one.json() == next(d for d in exported if d["metadata"]["name"] == NAMES[plural])


def test_secret_values_go_in_and_never_come_back(world: dict[str, Any], rw: Api) -> None:
    doc = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s3-creds"},
           "stringData": {"AWS_ACCESS_KEY_ID": "AKIA-visible-nowhere", "AWS_SECRET_ACCESS_KEY": "very-secret-value"}}
    created = rw.post("/secrets", doc)
    assert created.status_code == 201, created.content
    assert b"very-secret-value" not in created.content and b"AKIA-visible-nowhere" not in created.content
    assert Secret.objects.get(team=world["a"], name="s3-creds").get("AWS_SECRET_ACCESS_KEY") == "very-secret-value"
    assert b"very-secret-value" not in rw.get("/secrets/s3-creds").content
    assert b"very-secret-value" not in rw.get("/secrets").content


def test_create_update_delete_a_storage(world: dict[str, Any], rw: Api, settings: Any, django_capture_on_commit_callbacks: Any) -> None:
    doc: dict[str, Any] = {"apiVersion": "storage.kubestash.com/v1alpha1", "kind": "BackupStorage", "metadata": {"name": "second"},
           "spec": {"storage": {"provider": "local", "local": {"mountPath": str(settings.LOCAL_STORAGE_ROOT / "second")}}}}
    with django_capture_on_commit_callbacks() as callbacks:
        created = rw.post("/backupstorages", doc)
    assert created.status_code == 201, created.content
    assert created.json()["metadata"]["namespace"] == "team-a"
    assert len(callbacks) == 1  # its initialization was enqueued, as `manage.py apply` does
    assert rw.post("/backupstorages", doc).status_code == 409
    doc["spec"]["deletionPolicy"] = "WipeOut"
    seen: list[dict[str, Any]] = []

    def receiver(**kw: Any) -> None:
        seen.append(kw)

    signals.api_action.connect(receiver)
    try:
        updated = rw.put("/backupstorages/second", doc)
    finally:
        signals.api_action.disconnect(receiver)
    assert updated.status_code == 200, updated.content
    assert updated.json()["spec"]["deletionPolicy"] == "WipeOut"
    assert [(s["action"], s["kind"], s["name"], s["changed"]) for s in seen] == \
        [("update", "BackupStorage", "second", ["spec.deletionPolicy"])]
    deleting = rw.delete("/backupstorages/second")
    assert deleting.status_code == 202  # WipeOut: its files go first, in a job
    assert rw.delete("/retentionpolicies/keep-5").status_code == 409  # the configuration uses it
    RetentionPolicy.objects.create(team=world["a"], name="unused", keep_last=1)
    assert rw.delete("/retentionpolicies/unused").status_code == 204
    assert not RetentionPolicy.objects.filter(name="unused").exists()


@pytest.mark.parametrize("doc", [
    {"apiVersion": "storage.kubestash.com/v1alpha1", "kind": "BackupStorage", "metadata": {"name": "bad"},
     "spec": {"storage": {"provider": "s3", "s3": {"bucket": "b", "secretName": "nope"}}}},
    {"apiVersion": "storage.kubestash.com/v1alpha1", "kind": "BackupStorage", "metadata": {"name": "bad"},
     "spec": {"storage": {"provider": "local", "local": {"mountPath": "/tmp/x", "colour": "blue"}}}},
    {"apiVersion": "storage.kubestash.com/v1alpha1", "kind": "RetentionPolicy", "metadata": {"name": "bad"},
     "spec": {"successfulSnapshots": {"last": "five"}}},
    {"apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupConfiguration", "metadata": {"name": "bad"},
     "spec": {"target": {"name": "es"}, "sessions": []}},
    {"apiVersion": "storage.kubestash.com/v1alpha1", "kind": "Repository", "metadata": {"name": "Bad Name"},
     "spec": {"storageRef": {"name": "local"}, "path": "x", "encryptionSecret": {"name": "repo-key"}}},
])
def test_validation_errors_are_apply_s(world: dict[str, Any], rw: Api, doc: dict[str, Any]) -> None:
    plural = {"BackupStorage": "backupstorages", "RetentionPolicy": "retentionpolicies",
              "BackupConfiguration": "backupconfigurations", "Repository": "repositories"}[doc["kind"]]
    with pytest.raises(ManifestError) as applied:
        resources.apply([{**doc, "metadata": {**doc["metadata"], "namespace": "team-a"}}], dry_run=True)
    answer = rw.post(f"/{plural}", doc)
    assert answer.status_code == 400, answer.content
    error = answer.json()["errors"][0]
    assert applied.value.path.endswith(": " + error["path"])  # "doc 1 (Kind team-a/bad): <path>"
    assert error["message"] == applied.value.message


def test_a_body_cannot_rename_or_move_to_another_namespace(world: dict[str, Any], rw: Api) -> None:
    doc = resources.to_manifest(resources.BY_KIND["BackupStorage"], world["storage"])
    renamed = rw.put("/backupstorages/local", {**doc, "metadata": {"name": "other"}})
    assert renamed.status_code == 400 and renamed.json()["errors"][0]["path"] == "metadata.name"
    moved = rw.post("/backupstorages", {**doc, "metadata": {"name": "x", "namespace": "team-b"}})
    assert moved.status_code == 404 and moved.json()["errors"][0]["path"] == "metadata.namespace"
    assert not BackupStorage.objects.filter(name="x").exists()
    wrong = rw.post("/backupstorages", {**doc, "kind": "RetentionPolicy"})
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["path"] == "kind"
    assert rw.post("/backupstorages", [doc]).json()["detail"].startswith("a document must be a mapping")
    assert rw.call("POST", "/backupstorages", None).status_code == 400
    nameless = rw.post("/backupstorages", {**doc, "metadata": {"labels": {}}})
    assert nameless.status_code == 400 and nameless.json()["errors"][0] == {"path": "metadata.name", "message": "required field is missing"}
    not_json = rw.client.post("/api/v1/backupstorages", data=b"{nope", content_type="application/json", headers=rw.headers)
    assert not_json.status_code == 400 and "not JSON" in not_json.json()["detail"]


def test_every_endpoint_with_another_teams_token_is_a_404_and_changes_nothing(world: dict[str, Any], other: Api) -> None:
    before = team_a_state(world)
    for method, path in operations():
        answer = other.call(method, concrete(path), body_for(world, method, path))
        if "{name}" in path or method == "POST":
            assert answer.status_code == 404, (method, path, answer.status_code, answer.content)
        else:
            assert answer.status_code == 200, (method, path, answer.content)
            assert all(d["metadata"]["namespace"] == "team-b" for d in answer.json()["items"]), (method, path)
    assert team_a_state(world) == before


def test_a_read_only_token_reads_everything_and_writes_nothing(world: dict[str, Any], ro: Api) -> None:
    before = team_a_state(world)
    for method, path in operations():
        answer = ro.call(method, concrete(path), body_for(world, method, path))
        expected = 200 if method == "GET" else 403
        assert answer.status_code == expected, (method, path, answer.status_code, answer.content)
        if expected == 403:
            assert "read-only" in answer.json()["detail"]
    assert team_a_state(world) == before


def test_no_token_a_wrong_token_or_a_revoked_token_is_a_401(world: dict[str, Any]) -> None:
    assert Api(None).get("/backupstorages").status_code == 401
    assert Api("sbk_not-a-token").get("/backupstorages").status_code == 401
    ApiToken.objects.filter(team=world["a"]).delete()
    answer = Api(world["tokens"]["rw"]).get("/backupstorages")
    assert answer.status_code == 401 and "Bearer" in answer.json()["detail"]


def test_a_token_records_when_it_was_last_used(world: dict[str, Any], rw: Api) -> None:
    token = ApiToken.objects.get(team=world["a"], name="rw token")
    assert token.last_used is None
    rw.get("/backupstorages")
    token.refresh_from_db()
    assert token.last_used is not None
    assert token.key_hash != world["tokens"]["rw"] and world["tokens"]["rw"].startswith(token.prefix)
