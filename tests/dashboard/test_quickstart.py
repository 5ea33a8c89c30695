"""The quick start: says what it does, --port/--bind, one log format for gunicorn too,
no control socket outside the data folder, a favicon."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from django.test import Client

from dashboard.management.commands.quickstart import _MigrationProgress, bind_address, wait_listening

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("bind, port, expected", [
    ("127.0.0.1:8000", None, "127.0.0.1:8000"), ("0.0.0.0", None, "0.0.0.0:8000"), ("127.0.0.1:8000", 8080, "127.0.0.1:8080"),
    ("0.0.0.0:8000", 9000, "0.0.0.0:9000"), ("[::1]:8000", 9000, "[::1]:9000"), ("[::1]", None, "[::1]:8000"),
])
def test_bind_and_port(bind: str, port: int | None, expected: str) -> None:
    assert bind_address(bind, port) == expected


def test_running_is_said_only_once_the_web_server_answers() -> None:
    """What the quick start waits for before it prints "Stashboard is running": a listener on
    the bound address (a wildcard host is tried on loopback), not just a started process."""
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        assert not wait_listening(f"127.0.0.1:{port}", sleeper, timeout=0.5)
        assert not wait_listening(f"0.0.0.0:{port}", sleeper, timeout=10, stopped=lambda: True)
        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            assert wait_listening(f"0.0.0.0:{listener.getsockname()[1]}", sleeper, timeout=5)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert not wait_listening(f"127.0.0.1:{port}", sleeper, timeout=10)  # the process is gone


def test_migrations_are_counted_as_they_are_applied() -> None:
    lines: list[str] = []

    class Out:
        def write(self, text: str) -> None:
            lines.append(text)

        def flush(self) -> None:
            pass

    progress = _MigrationProgress(Out(), 2)
    for text in ("Operations to perform:\n", "  Applying auth.0001_initial...", " OK\n", "  Applying dashboard.0002_profile...", " OK\n"):
        progress.write(text)
    assert lines == ["    [1/2] auth.0001_initial", "    [2/2] dashboard.0002_profile"]


@pytest.mark.django_db
def test_the_favicon_is_served() -> None:
    r = Client().get("/favicon.ico")
    assert r.status_code == 200 and r.getvalue()[:4] == b"\0\0\1\0"  # an ICO file


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_gunicorn_logs_in_the_projects_format_and_keeps_its_socket_in_the_data_folder(tmp_path: Path, log_format: str) -> None:
    home, data, port = tmp_path / "home", tmp_path / "data", _free_port()
    home.mkdir()
    env = {**os.environ, "HOME": str(home), "STASHBOARD_DATA_DIR": str(data), "LOG_FORMAT": log_format,
           "DJANGO_SETTINGS_MODULE": "dashboard.settings"}
    env.pop("XDG_RUNTIME_DIR", None)
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", "python:dashboard.gunicorn_config", "dashboard.wsgi",
                             "--bind", f"127.0.0.1:{port}", "--workers", "1"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/favicon.ico", timeout=2) as r:
                    assert r.status == 200
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.2)
        assert (data / "gunicorn.ctl").exists()
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    lines = [line for line in out.splitlines() if line.strip()]
    assert any("gunicorn.access" in line and "GET /favicon.ico" in line for line in lines), out
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line, gunicorn's own too
        assert {"gunicorn.error", "gunicorn.access"} <= {r["logger"] for r in records}
    else:
        assert all(" INFO gunicorn." in line or " WARNING " in line or " ERROR " in line for line in lines), out
    assert not (home / ".gunicorn").exists()
