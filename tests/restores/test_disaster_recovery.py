from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.fixtures.flows import make_config, ready
from tests.peers.clusters import ONE_KIND, external_credentials
from tests.peers.osmem import count, seed

# The flow around the engine (jobs, rows, schedules, hooks, storage), not the engine's
# dealings with a server: one search kind. tests/backups/elastic and tests/restores/load
# run the engine on every kind.
pytestmark = [pytest.mark.slow, pytest.mark.search_kinds(ONE_KIND)]


def test_a_snapshot_is_restored_with_only_the_repository_location_and_password(world, es_url, es_url2, tmp_path):
    seed(es_url, "dr-1", 30)
    ready(world, make_config(world, "dr-*"))
    repo_dir = f"{world['storage'].mount_path}/{world['repo'].directory}"
    password = tmp_path / "pw"
    password.write_text("pw-for-tests\n")
    # A separate process with an empty database path: nothing but the repository is needed.
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/none.sqlite3", "STASHBOARD_DATA_DIR": str(tmp_path / "data"),
           "PATH": "/usr/bin:/bin"}
    run = subprocess.run(
        [sys.executable, "manage.py", "dr_restore", "--url", f"file://{repo_dir}", "--password-file", str(password),
         "--target", es_url2, "--rename", "^(.*)$", "dr-restored-\\1"],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert "dr-restored-dr-1: 30 docs, 0 failed" in run.stdout
    assert count(es_url2, "dr-restored-dr-1") == 30
    assert not (tmp_path / "none.sqlite3").exists() or (tmp_path / "none.sqlite3").stat().st_size == 0


def dr_restore_error(world, password: str, target: str, tmp_path) -> str:
    """What `manage.py dr_restore` of world's repository into `target` fails with."""
    password_file = tmp_path / "pw"
    password_file.write_text(password + "\n")
    with pytest.raises(CommandError) as e:
        call_command("dr_restore", "--url", f"file://{world['storage'].mount_path}/{world['repo'].directory}",
                     "--password-file", str(password_file), "--target", target, stdout=io.StringIO())
    return str(e.value)


def test_a_conflicting_restore_exits_with_the_failed_index(world, es_url, tmp_path, monkeypatch):
    creds = external_credentials(es_url)
    if creds:  # dr_restore reads a cluster's credentials from the environment
        for name, value in zip(("ES_USERNAME", "ES_PASSWORD", "ES_CA_BUNDLE"), creds, strict=True):
            monkeypatch.setenv(name, value)
    seed(es_url, "dr-2", 5)
    ready(world, make_config(world, "dr-2"))
    assert "dr-2" in dr_restore_error(world, "pw-for-tests", es_url, tmp_path)


def test_a_wrong_password_says_so(world, es_url, tmp_path):
    ready(world, make_config(world, "dr-3"))
    assert "wrong password" in dr_restore_error(world, "not the password", es_url, tmp_path)
