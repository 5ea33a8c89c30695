"""The wizard, the YAML and `manage.py restore` apply the restore rules of restores.rules:
what the review shows is what the load does (issue 14, point 3)."""
from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from tests import factories as f

pytestmark = pytest.mark.django_db

# as backups.elastic.dump writes a data stream's backing indices into Snapshot.components
DS_DUMP = {
    ".ds-logs-app-2026.11.30-000001": {"docs": 30, "bytes": 900, "duration": 0.1, "skipped_unchanged": False,
                                       "error": None, "data_stream": "logs-app"},
    ".ds-logs-app-2026.11.30-000002": {"docs": 20, "bytes": 600, "duration": 0.1, "skipped_unchanged": False,
                                       "error": None, "data_stream": "logs-app"},
    "logs-closed": {"docs": 0, "bytes": 0, "duration": 0.0, "skipped_unchanged": False, "closed": True, "error": None},
    "users": {"docs": 7, "bytes": 100, "duration": 0.1, "skipped_unchanged": False, "error": None},
}


def _ds_snapshot(world: dict[str, Any]) -> Any:
    return f.snapshot(world["session"], world["repo"], phase="Succeeded", snapshot_id="cd" * 32, total_docs=57,
                      components={"dump": DS_DUMP})


def test_the_preview_chooses_a_data_streams_backing_indices_by_its_name_as_the_load_does(
        world: dict[str, Any], alice: Client, charlie: Client) -> None:
    snap = _ds_snapshot(world)
    html = alice.get(reverse("restores:restore-preview"), {"repository": world["repo"].pk, "snapshot": snap.snapshot_id,
                                                            "indices": "logs-*", "rename_pattern": "^logs-",
                                                            "rename_replacement": "old-logs-"}).content.decode()
    assert ".ds-logs-app-2026.11.30-000001" in html and ".ds-logs-app-2026.11.30-000002" in html
    assert "into data stream <code>old-logs-app</code>" in html
    assert "logs-closed" not in html  # closed at backup time: there is no stream to restore
    assert "users" not in html
    assert ".ds-logs-app" not in charlie.get(reverse("restores:restore-preview"), {
        "repository": world["repo"].pk, "snapshot": snap.snapshot_id, "indices": "logs-*"}).content.decode()


def test_the_preview_shows_an_index_renamed_onto_a_data_stream_as_a_collision(world: dict[str, Any], alice: Client) -> None:
    snap = _ds_snapshot(world)
    html = alice.get(reverse("restores:restore-preview"), {"repository": world["repo"].pk, "snapshot": snap.snapshot_id,
                                                            "indices": "*", "rename_pattern": "^users$",
                                                            "rename_replacement": "logs-app"}).content.decode()
    assert "maps both .ds-logs-app-2026.11.30-000001 (data stream logs-app) and users to logs-app" in html


def test_the_wizard_puts_a_replacement_that_does_not_fit_under_the_replacement(world: dict[str, Any], alice: Client) -> None:
    data = {"repository": world["repo"].pk, "snapshot": "latest", "indices": "*", "target": world["cluster"].pk,
            "conflict": "fail", "rename_pattern": "^(.*)$", "rename_replacement": r"restored-\2", "action": "review"}
    r = alice.post(reverse("restores:restore-new"), data)
    html = r.content.decode()
    assert r.status_code == 400 and "Does not fit the pattern: invalid group reference 2" in html
    assert r"restored-\2" in html  # what was typed stays


@pytest.mark.parametrize("params,message", [
    ("{rename_replacement: restored-x}", "rename_pattern: Give the pattern the replacement applies to."),
    (r"{rename_pattern: '^(.*)$', rename_replacement: 'r-\2'}", "rename_replacement: Does not fit the pattern"),
    ("{conflict: replace}", "conflict: 'replace' unknown; use one of fail, skip, overwrite, merge."),
])
def test_yaml_refuses_a_restore_the_wizard_refuses(world: dict[str, Any], tmp_path: Any, params: str, message: str) -> None:
    path = tmp_path / "restore.yaml"
    path.write_text(f"""
apiVersion: core.kubestash.com/v1alpha1
kind: RestoreSession
metadata: {{name: r2, namespace: {world["a"].slug}}}
spec:
  target: {{kind: AppBinding, name: es, namespace: {world["a"].slug}}}
  dataSource: {{repository: repo, snapshot: latest}}
  addon:
    name: elasticsearch-addon
    tasks:
    - name: logical-backup-restore
      params: {params}
""")
    with pytest.raises(CommandError) as e:
        call_command("apply", "-f", str(path), stdout=io.StringIO())
    assert "spec.addon.tasks[0].params" in str(e.value) and message in str(e.value)


def test_manage_py_restore_refuses_a_replacement_that_does_not_fit(world: dict[str, Any]) -> None:
    with pytest.raises(CommandError, match="rename_replacement: Does not fit the pattern"):
        call_command("restore", "--repository", f"{world['a'].slug}/repo", "--target", f"{world['a'].slug}/es",
                     "--rename", "^(.*)$", r"\2", stdout=io.StringIO())
