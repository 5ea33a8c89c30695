"""Azurite (npm) as an Azure Blob peer."""
from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .util import free_port, listening

# Azurite's well-known development account.
ACCOUNT = "devstoreaccount1"
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass
class AzuriteBlob:
    endpoint: str  # http://127.0.0.1:PORT/devstoreaccount1
    account: str = ACCOUNT
    key: str = KEY

    @property
    def connection_string(self) -> str:
        return (f"DefaultEndpointsProtocol=http;AccountName={self.account};"
                f"AccountKey={self.key};BlobEndpoint={self.endpoint};")

    def make_container(self, name: str) -> str:
        from azure.storage.blob import BlobServiceClient

        BlobServiceClient.from_connection_string(self.connection_string).create_container(name)
        return name


def _azurite_bin() -> str:
    here = Path(__file__).resolve().parents[2] / "node_modules" / ".bin" / "azurite-blob"
    for candidate in (os.environ.get("AZURITE_BLOB", ""), str(here)):
        if candidate and Path(candidate).exists():
            return candidate
    found = shutil.which("azurite-blob")
    if not found:
        raise RuntimeError("azurite-blob not found: run `npm install` at the project root "
                           "(or set AZURITE_BLOB to its path)")
    return found


@contextlib.contextmanager
def start_azurite(tmp_path: Path, *, timeout: float = 60.0) -> Iterator[AzuriteBlob]:
    """Start azurite-blob in memory on a free port."""
    base = Path(tmp_path) / "azurite"  # made by listening(), for its log
    port = free_port()
    # --skipApiVersionCheck: the current azure-storage-blob sends an API version newer
    # than Azurite knows.
    cmd = [_azurite_bin(), "--blobHost", "127.0.0.1", "--blobPort", str(port),
           "--inMemoryPersistence", "--disableTelemetry", "--skipApiVersionCheck"]
    with listening(cmd, port, log=base / "azurite.log", cwd=base, timeout=timeout):
        yield AzuriteBlob(endpoint=f"http://127.0.0.1:{port}/{ACCOUNT}")
