"""The `repo` management command: only a URL, credentials and a password; no database."""
from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pwfile(tmp_path: Path) -> str:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    return str(path)


def repo(url: str, pwfile: str, *args: str, stdin: bytes | None = None) -> tuple[str, bytes]:
    out, binary = io.StringIO(), io.BytesIO()
    call_command("repo", "--url", url, "--password-file", pwfile, *args, stdout=out,
                 stderr=io.StringIO(), stdin_binary=io.BytesIO(stdin or b""),
                 stdout_binary=binary)
    return out.getvalue(), binary.getvalue()


def test_it_backs_up_standard_input_and_cats_it_back(tmp_path: Path, pwfile: str) -> None:
    url = f"file://{tmp_path}/repo"
    assert "created repository" in repo(url, pwfile, "init")[0]
    data = os.urandom(3 << 20)
    out, _ = repo(url, pwfile, "backup", "indices/logs", "--meta", "cluster=prod", stdin=data)
    assert out.startswith("snapshot ")
    snapshot_id = out.split()[1]
    listing, _ = repo(url, pwfile, "snapshots")
    assert snapshot_id in listing and "Succeeded" in listing
    assert "indices/logs\t3145728" in repo(url, pwfile, "ls", "latest")[0]
    assert repo(url, pwfile, "cat", snapshot_id, "indices/logs")[1] == data
    assert repo(url, pwfile, "cat", "latest", "indices/logs")[1] == data
    full = repo(url, pwfile, "check", "--read-data")[0]
    assert "no problems found" in full
    subsets = [repo(url, pwfile, "check", "--read-data-subset", f"{n}/3")[0] for n in (1, 2, 3)]
    assert all("no problems found" in out for out in subsets)

    def read(out: str) -> int:
        return int(out.split(" read")[0].rsplit(" ", 1)[1]) if " read" in out else 0

    assert read(full) > 0 and sum(read(out) for out in subsets) == read(full)
    with pytest.raises(CommandError, match="n/t with 1 <= n <= t"):
        repo(url, pwfile, "check", "--read-data-subset", "4/3")


def test_forget_dry_run_lists_what_would_go_and_prune_reclaims(tmp_path: Path,
                                                               pwfile: str) -> None:
    url = f"file://{tmp_path}/repo"
    repo(url, pwfile, "init")
    for i in range(3):
        repo(url, pwfile, "backup", "s", stdin=os.urandom(100_000) + b"%d" % i)
    out, _ = repo(url, pwfile, "forget", "--keep-last", "1", "--dry-run")
    assert "would remove 2 snapshots, kept 1" in out
    assert len(repo(url, pwfile, "snapshots", "--json")[0].split('"id"')) == 4
    out, _ = repo(url, pwfile, "forget", "--keep-last", "1", "--prune")
    assert "removed 2 snapshots" in out and "deleted 2 unreferenced chunks" in out
    assert "removed 0 locks" in repo(url, pwfile, "unlock")[0]


def test_errors_are_one_line_command_errors(tmp_path: Path, pwfile: str) -> None:
    url = f"file://{tmp_path}/repo"
    with pytest.raises(CommandError, match="no repository at"):
        repo(url, pwfile, "snapshots")
    repo(url, pwfile, "init")
    bad = tmp_path / "bad"
    bad.write_text("nope")
    with pytest.raises(CommandError, match="^wrong password for repository file://"):
        repo(url, str(bad), "snapshots")
    with pytest.raises(CommandError, match="no snapshot"):
        repo(url, pwfile, "cat", "latest", "x")


def test_it_works_against_s3_with_credentials_from_the_environment(
        tmp_path: Path, pwfile: str, seaweedfs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    url = f"s3://stashboard-tests/cli-{os.getpid()}?endpoint={seaweedfs.endpoint}&path_style=true"
    repo(url, pwfile, "init")
    repo(url, pwfile, "backup", "idx", stdin=b'{"a":1}\n' * 1000)
    assert repo(url, pwfile, "cat", "latest", "idx")[1] == b'{"a":1}\n' * 1000


def test_the_exit_status_and_standard_error_of_a_real_run(tmp_path: Path, pwfile: str) -> None:
    # A database that does not exist: disaster recovery must not need it.
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/absent/db.sqlite3"}
    base = [sys.executable, "manage.py", "repo", "--url", f"file://{tmp_path}/repo",
            "--password-file", pwfile]
    ok = subprocess.run([*base, "init"], cwd=ROOT, env=env, capture_output=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    data = b'{"doc":1}\n' * 5000
    ok = subprocess.run([*base, "backup", "idx"], input=data, cwd=ROOT, env=env,
                        capture_output=True, timeout=60, check=False)
    assert ok.returncode == 0, ok.stderr
    cat = subprocess.run([*base, "cat", "latest", "idx"], cwd=ROOT, env=env, capture_output=True,
                         timeout=60, check=False)
    assert cat.returncode == 0 and cat.stdout == data
    fail = subprocess.run([*base, "ls", "deadbeef"], cwd=ROOT, env=env, capture_output=True,
                          timeout=60, check=False)
    assert fail.returncode == 1
    assert fail.stderr.decode().strip().count("\n") == 0
    assert "no snapshot 'deadbeef'" in fail.stderr.decode()


def test_snapshots_names_a_checkpoint_as_one_and_check_counts_it(tmp_path: Path, pwfile: str) -> None:
    from storage.backends import open_backend
    from storage.repo import Repository

    url = f"file://{tmp_path}/repo"
    repo(url, pwfile, "init")
    engine = Repository.open(open_backend("local", root=str(tmp_path / "repo")), "s3cret")
    w = engine.writer(checkpoint="conf/full")
    w.add_stream("indices/a", os.urandom(1 << 20))
    w.close()   # left without commit: a checkpoint, no snapshot
    listing, _ = repo(url, pwfile, "snapshots")
    (cp,) = engine.checkpoints()
    assert listing.splitlines()[1:] == [line for line in listing.splitlines()[1:] if line.startswith("checkpoint")]
    assert f"checkpoint {cp.short_id} of an uncommitted backup (conf/full)" in listing and "not a snapshot" in listing
    assert "0 snapshots, 1 checkpoints" in repo(url, pwfile, "check", "--read-data")[0]


def _current_key(url: str, pwfile: str) -> str:
    import json

    return next(k["id"] for k in json.loads(repo(url, pwfile, "key", "list", "--json")[0]) if k["current"])


def test_key_verbs_add_list_change_and_remove_passwords(tmp_path: Path, pwfile: str) -> None:
    url = f"file://{tmp_path}/repo"
    repo(url, pwfile, "init", "--kdf", "scrypt")
    first = _current_key(url, pwfile)
    second, third = tmp_path / "second", tmp_path / "third"
    second.write_text("second pw\n")
    third.write_text("third pw\n")
    added = repo(url, pwfile, "key", "add", "--new-password-file", str(second))[0].split()[-1]
    listing = repo(url, str(second), "key", "list")[0]
    assert f"* {added}" in listing and f"  {first}" in listing and listing.count("scrypt") == 2
    out = repo(url, str(second), "key", "passwd", "--new-password-file", str(third))[0]
    assert f"replaced key {added}" in out
    with pytest.raises(CommandError, match="wrong password"):
        repo(url, str(second), "key", "list")
    with pytest.raises(CommandError, match="is the one this password opened"):
        repo(url, pwfile, "key", "remove", first)
    assert f"removed key {first}" in repo(url, str(third), "key", "remove", first[:8])[0]
    with pytest.raises(CommandError, match="wrong password"):
        repo(url, pwfile, "snapshots")
    assert len(repo(url, str(third), "key", "list")[0].splitlines()) == 2


def test_migrate_upgrades_a_format_1_repository_and_says_what_it_did(tmp_path: Path, pwfile: str) -> None:
    url = f"file://{tmp_path}/repo"
    assert "(format 1)" in repo(url, pwfile, "init", "--format-version", "1", "--kdf", "scrypt")[0]
    data = os.urandom(3 << 20)
    repo(url, pwfile, "backup", "indices/logs", stdin=data)
    assert (tmp_path / "repo" / "data").is_dir()
    out, _ = repo(url, pwfile, "migrate")
    assert out.startswith("migrated ") and "format 1 -> 2" in out
    assert repo(url, pwfile, "cat", "latest", "indices/logs")[1] == data
    assert "no problems found" in repo(url, pwfile, "check", "--read-data")[0]
    assert "already format 2" in repo(url, pwfile, "migrate")[0]
