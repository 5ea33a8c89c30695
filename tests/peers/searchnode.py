"""Real single-node Elasticsearch / OpenSearch clusters, started with bin/search-node.

    build("opensearch-2")                    # optional: build the launcher up front
    with start_search_node("opensearch-2") as node:
        node.url   # http://127.0.0.1:PORT

What each kind supports and lacks is in docs/search-nodes.md.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .util import free_port

KINDS = ("opensearch-2", "opensearch-3", "elasticsearch-8")

ROOT = Path(__file__).resolve().parents[2]
SEARCH_NODE = ROOT / "bin" / "search-node"

# A cold build downloads the server's jars (tens of MB) into ~/.m2.
BUILD_TIMEOUT = 900.0


def missing_tools() -> str | None:
    """Why bin/search-node cannot run here, or None."""
    if shutil.which("mvn") is None:
        return "Maven (mvn) is not on PATH"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "no Java"
    return None


def build(kind: str, *, timeout: float = BUILD_TIMEOUT) -> None:
    """Build KIND's launcher unless it is up to date (bin/search-node KIND --build)."""
    proc = subprocess.run([str(SEARCH_NODE), kind, "--build"], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"bin/search-node {kind} --build failed ({proc.returncode}):\n"
                           f"{proc.stdout}{proc.stderr[-8000:]}")


@dataclass
class SearchNode:
    kind: str
    url: str
    pid: int
    log_path: Path
    proc: subprocess.Popen[bytes] = field(repr=False)

    def log_tail(self, n: int = 4000) -> str:
        return _tail(self.log_path, n)


def _tail(path: Path, n: int = 4000) -> str:
    try:
        return path.read_bytes()[-n:].decode("utf-8", "replace")
    except OSError:
        return ""


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=2) as r:
            json.load(r)
            return bool(r.status == 200)
    except (OSError, ValueError):
        return False


def _stop(proc: subprocess.Popen[bytes], timeout: float) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        proc.wait()


@contextlib.contextmanager
def start_search_node(kind: str, *, startup_timeout: float = 180.0, stop_timeout: float = 30.0,
                      settings: dict[str, str] | None = None) -> Iterator[SearchNode]:
    """Start a fresh node of KIND on a free port with its data in a temporary folder;
    `settings` are node settings on top of the launcher's (`--setting KEY=VALUE`).

    Builds the launcher first when needed (that time is not part of startup_timeout).
    Raises RuntimeError with the tail of the node's log if it does not answer `GET /`.
    On exit: SIGTERM, then SIGKILL after stop_timeout; the folder is removed."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    build(kind)
    workdir = Path(tempfile.mkdtemp(prefix=f"search-node-{kind}-"))
    log_path = workdir / "node.log"
    proc: subprocess.Popen[bytes] | None = None
    try:
        port = free_port()
        with open(log_path, "wb") as log:
            extra = [a for k, v in (settings or {}).items() for a in ("--setting", f"{k}={v}")]
            proc = subprocess.Popen([str(SEARCH_NODE), kind, "--port", str(port), "--data", str(workdir / "node"),
                                     *extra],
                                    stdout=subprocess.PIPE, stderr=log, stdin=subprocess.DEVNULL)
        url = _wait_for_url(proc, startup_timeout)
        if url is None or not _answers(url):
            _stop(proc, stop_timeout)
            raise RuntimeError(f"bin/search-node {kind} did not start (exit {proc.returncode}); "
                               f"log tail:\n{_tail(log_path)}")
        yield SearchNode(kind=kind, url=url, pid=proc.pid, log_path=log_path, proc=proc)
    finally:
        if proc is not None:
            _stop(proc, stop_timeout)
            if proc.stdout is not None:
                proc.stdout.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_url(proc: subprocess.Popen[bytes], timeout: float) -> str | None:
    """The first stdout line, which bin/search-node prints once `GET /` answers."""
    assert proc.stdout is not None
    stdout = proc.stdout
    line: list[bytes] = []
    # readline() blocks, and a node that hangs while starting writes nothing: read in a
    # thread so the deadline holds.
    reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
    reader.start()
    deadline = time.monotonic() + timeout
    while reader.is_alive() and time.monotonic() < deadline:
        reader.join(0.2)
    if not line:
        return None
    url = line[0].decode().strip()
    return url if url.startswith("http://") else None
