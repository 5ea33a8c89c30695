"""The configuration and repository forms: required fields marked, fields that go together
say so, errors under the field that is missing, nothing typed lost; a secret, a storage or
a cluster made in a dialog (HTMX) and selected in the form."""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backups.models import Cluster
from storage.models import BackupStorage, Secret
from tests.dashboard.test_actions import _config_data

pytestmark = pytest.mark.django_db


def _label(html: str, field_id: str) -> str:
    m = re.search(rf'<label for="{field_id}"([^>]*)>(.*?)</label>', html, re.S)
    assert m, f"no label for {field_id}"
    return m.group(1) + ">" + m.group(2)


def test_required_fields_are_marked_and_the_new_repository_fields_say_they_go_together(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(reverse("storage:repository-new")).content.decode()
    for name in ("name", "storage", "directory", "encryption_secret"):
        assert 'class="required"' in _label(html, f"id_{name}"), name
    html = alice.get(reverse("backups:configuration-new")).content.decode()
    assert 'class="required"' in _label(html, "id_config-name")
    assert "(optional)" in _label(html, "id_session-retention_policy")
    for name in ("new_repo_name", "new_repo_storage", "new_repo_secret"):
        label = _label(html, f"id_session-{name}")
        assert "(required for a new repository)" in label and "optional" not in label, name
    assert "Name, storage and encryption secret go together" in html


def test_a_missing_encryption_secret_is_named_under_its_field_and_nothing_typed_is_lost(world: dict[str, Any], alice: Client) -> None:
    data = _config_data(world, **{"session-repositories": [], "session-new_repo_name": "hourly-repo",
                                  "session-new_repo_storage": world["storage"].pk, "session-new_repo_directory": "es/hourly",
                                  "session-schedule": "30 2 * * *", "session-hooks_json": '{"preBackup": []}'})
    r = alice.post(reverse("backups:configuration-new"), data)
    html = r.content.decode()
    assert r.status_code == 400
    secret_errors = re.search(r'id="id_session-new_repo_secret_error">(.*?)</ul>', html, re.S)
    assert secret_errors and "A new repository needs the secret holding its password" in secret_errors.group(1)
    assert 'id="id_session-new_repo_name_error"' not in html  # nothing wrong with the name
    # what was typed is all there, the schedule's preview too
    assert 'value="hourly-repo"' in html and 'value="es/hourly"' in html and 'value="30 2 * * *"' in html
    assert "{&quot;preBackup&quot;: []}" in html
    preview = html[html.index('id="schedule-preview"'):]
    assert preview[:2000].count("<li>") == 5 and "02:30 UTC" in preview[:2000]
    assert "<details open" in html  # the new-repository fields stay open


def test_the_edit_page_previews_the_saved_schedule(world: dict[str, Any], alice: Client) -> None:
    config = world["config"]
    html = alice.get(reverse("backups:session-config-edit", args=[config.uuid, "full"])).content.decode()
    assert html[html.index('id="schedule-preview"'):][:2000].count("<li>") == 5


INLINE = [("storage:secret-new", Secret, {"inline-name": "made-inline", "inline-values": "RESTIC_PASSWORD=pw-inline"},
           "id_session-new_repo_secret"),
          ("storage:storage-new", BackupStorage, {"inline-name": "made-inline", "inline-provider": "local",
                                                    "inline-mount_path": "{root}/made-inline", "inline-deletion_policy": "Delete"},
           "id_storage"),
          ("backups:cluster-new", Cluster, {"inline-name": "made-inline", "inline-urls": "http://127.0.0.1:9200",
                                              "inline-auth": "none", "inline-verify_tls": "on", "inline-timeout": "30"},
           "id_config-target")]


@pytest.mark.parametrize("url_name, model, data, select", INLINE)
def test_a_dialog_makes_an_object_and_selects_it_in_the_form(world: dict[str, Any], alice: Client, bob: Client, charlie: Client,
                                                            settings: Any, url_name: str, model: Any, data: dict[str, str],
                                                            select: str) -> None:
    data = {k: v.format(root=settings.LOCAL_STORAGE_ROOT) for k, v in data.items()}
    url = reverse(url_name) + f"?inline={select}"
    r = alice.get(url, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html and 'name="inline-name"' in html
    assert "New secret…" not in html  # no dialog inside the dialog
    r = alice.post(url, {**data, "inline-name": "Not A Name"}, HTTP_HX_REQUEST="true")
    assert r.status_code == 400 and "<html" not in r.content.decode() and 'value="Not A Name"' in r.content.decode()
    assert "HX-Trigger" not in r
    r = alice.post(url, data, HTTP_HX_REQUEST="true")
    assert r.status_code == 200, r.content.decode()
    obj = model.objects.get(team=world["a"], name="made-inline")
    assert json.loads(r["HX-Trigger"]) == {"stash:created": {"select": select, "value": obj.pk, "label": "made-inline"}}
    # a viewer makes nothing; charlie's lands in his own team, never in team A
    assert bob.post(url, {**data, "inline-name": "by-bob"}, HTTP_HX_REQUEST="true").status_code == 403
    theirs = {k: v.replace("made-inline", "by-charlie") for k, v in data.items()}
    assert charlie.post(url, theirs, HTTP_HX_REQUEST="true").status_code == 200
    assert not model.objects.filter(team=world["a"], name__in=["by-bob", "by-charlie"]).exists()
    assert model.objects.filter(team=world["b"], name="by-charlie").exists()


def test_the_forms_offer_the_dialogs_and_odd_targets_get_the_page(world: dict[str, Any], alice: Client) -> None:
    html = alice.get(reverse("backups:configuration-new")).content.decode()
    assert f'hx-get="{reverse("storage:secret-new")}?inline=id_session-new_repo_secret"' in html
    assert f'hx-get="{reverse("storage:storage-new")}?inline=id_session-new_repo_storage"' in html
    assert f'hx-get="{reverse("backups:cluster-new")}?inline=id_config-target"' in html
    html = alice.get(reverse("storage:repository-new")).content.decode()
    assert f'hx-get="{reverse("storage:secret-new")}?inline=id_encryption_secret"' in html
    r = alice.get(reverse("storage:secret-new") + '?inline="><script>', HTTP_HX_REQUEST="true")
    assert "<html" in r.content.decode() and '"><script>' not in r.content.decode()  # the page, not a partial


def test_a_kubestash_style_directory_is_accepted_as_yaml_accepts_it(world: dict[str, Any], alice: Client, bob: Client,
                                                                   django_capture_on_commit_callbacks: Any) -> None:
    from storage.models import Repository
    from storage.validators import normalize_directory

    data = {"name": "demo", "storage": world["storage"].pk, "directory": "/es/demo",
            "encryption_secret": world["secret"].pk, "deletion_policy": "Delete"}
    with django_capture_on_commit_callbacks(execute=False):
        r = alice.post(reverse("storage:repository-new"), data)
        assert r.status_code == 302, r.content.decode()
        assert Repository.objects.get(team=world["a"], name="demo").directory == normalize_directory("/es/demo") == "es/demo"
        assert bob.post(reverse("storage:repository-new"), {**data, "name": "by-bob"}).status_code == 403
        cfg = _config_data(world, **{"session-repositories": [], "session-new_repo_name": "demo-2",
                                     "session-new_repo_storage": world["storage"].pk, "session-new_repo_directory": "/es/demo-2/",
                                     "session-new_repo_secret": world["secret"].pk})
        assert alice.post(reverse("backups:configuration-new"), cfg).status_code == 302
    assert Repository.objects.get(team=world["a"], name="demo-2").directory == "es/demo-2"
    r = alice.post(reverse("backups:configuration-new"), {**cfg, "config-name": "other", "session-new_repo_name": "demo-3",
                                                             "session-new_repo_directory": "/es/../x"})
    errors = re.search(r'id="id_session-new_repo_directory_error">(.*?)</ul>', r.content.decode(), re.S)
    assert r.status_code == 400 and errors and "must not contain empty, &#x27;.&#x27; or &#x27;..&#x27; parts" in errors.group(1)
