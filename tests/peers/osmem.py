"""Start osmem-server (in-memory OpenSearch-compatible server from PyPI) on a free port.

    with start_osmem() as es:
        es.url  # http://127.0.0.1:PORT
"""
from __future__ import annotations

import base64
import contextlib
import json
import os
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from tests.peers.clusters import external_credentials


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Osmem:
    url: str
    pid: int
    log_path: str

    def log_tail(self, n: int = 4000) -> str:
        with open(self.log_path, "rb") as f:
            return f.read()[-n:].decode("utf-8", "replace")


def osmem_binary() -> str:
    import osmem_server

    path = osmem_server.resolve_binary()
    if not os.access(path, os.X_OK):
        os.chmod(path, 0o755)
    return path


@contextlib.contextmanager
def start_osmem(*, startup_timeout: float = 20.0) -> Iterator[Osmem]:
    """Start a fresh osmem-server and kill it on exit.

    Raises RuntimeError with the tail of the server's log if it does not answer `GET /`."""
    binary = osmem_binary()
    log = tempfile.NamedTemporaryFile(prefix="osmem-", suffix=".log", delete=False)  # noqa: SIM115 - closed in finally
    proc = None
    for _attempt in range(3):  # the free port may be taken between probe and bind
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = subprocess.Popen([binary, "-addr", f"127.0.0.1:{port}", "-no-stdin-watch"],
                                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(url + "/", timeout=1) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.05)
        else:
            proc.kill()
            proc.wait()
            continue
        break
    else:
        log.close()
        with open(log.name, "rb") as f:
            tail = f.read()[-4000:].decode("utf-8", "replace")
        raise RuntimeError(f"osmem-server ({binary}) did not start: log tail:\n{tail}")
    server = Osmem(url=url, pid=proc.pid, log_path=log.name)
    try:
        yield server
    finally:
        proc.kill()
        proc.wait()
        log.close()
        with contextlib.suppress(OSError):
            os.unlink(log.name)


# Small HTTP helpers for tests that seed a cluster and count what a restore wrote.

def es(url: str, method: str, path: str, body: Any = None, ndjson: bytes | None = None) -> Any:
    data = ndjson if ndjson is not None else (json.dumps(body).encode() if body is not None else None)
    ctype = "application/x-ndjson" if ndjson is not None else "application/json"
    headers = {"Content-Type": ctype}
    context = None
    creds = external_credentials(url)
    if creds:  # the external cluster of STASHBOARD_TEST_ES_URL
        username, password, ca_bundle = creds
        if username:
            headers["Authorization"] = "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()
        context = ssl.create_default_context(cafile=ca_bundle or None)
    req = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30, context=context) as r:
            raw = r.read()
    except urllib.error.HTTPError as e:
        raw = e.read()
        if e.code != 404:
            raise AssertionError(f"{method} {path}: {e.code} {raw[:500]!r}") from None
    return json.loads(raw) if raw else {}


def seed(url: str, index: str, n: int, shards: int = 2) -> None:
    es(url, "DELETE", f"/{index}")
    es(url, "PUT", f"/{index}", {"settings": {"number_of_shards": shards, "number_of_replicas": 0},
                                 "mappings": {"properties": {"n": {"type": "long"}, "msg": {"type": "text"}}}})
    lines = b"".join(
        json.dumps({"index": {"_index": index, "_id": f"doc-{i}"}}).encode() + b"\n"
        + json.dumps({"n": i, "msg": f"message {i} ü"}).encode() + b"\n"
        for i in range(n)
    )
    es(url, "POST", "/_bulk?refresh=true", ndjson=lines)


def count(url: str, index: str) -> int:
    es(url, "POST", f"/{index}/_refresh")
    return es(url, "GET", f"/{index}/_count").get("count", 0)


def reset(url: str) -> None:
    """Delete every data stream and every index that is not a system (dot) index: a
    server shared by several suites starts a test that counts indices empty."""
    try:
        streams = es(url, "GET", "/_data_stream").get("data_streams", [])
    except AssertionError:  # a server without data streams (Elasticsearch without x-pack)
        streams = []
    for stream in streams:
        es(url, "DELETE", f"/_data_stream/{stream['name']}")
    names = [row["index"] for row in es(url, "GET", "/_cat/indices?format=json&expand_wildcards=open,closed")
             if not row["index"].startswith(".")]
    for i in range(0, len(names), 50):  # by name: Elasticsearch 8 refuses wildcard deletes
        es(url, "DELETE", "/" + ",".join(names[i:i + 50]))
