"""Azure Blob Storage (or Azurite) through azure-storage-blob."""
from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any, BinaryIO

from .base import (
    AlreadyExists,
    Backend,
    BackendError,
    ErrorMappingReader,
    NotFound,
    join_key,
)


class AzureBackend(Backend):
    kind = "azure"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint: str = "",
                 credentials: dict[str, str] | None = None) -> None:
        if not bucket:
            raise BackendError("azure storage needs a container: set the storage's bucket")
        self.container_name = bucket
        self.prefix = prefix.strip("/")
        creds = credentials or {}
        from azure.storage.blob import BlobServiceClient

        # The SDK logs every request and response at INFO; that drowns our logs.
        logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(
            logging.WARNING)

        # Blocks of 8 MiB, uploaded 4 at a time, for anything bigger than one block.
        # retry_total=0: storage.retry is the one retry layer (backends/retrying.py).
        opts: dict[str, Any] = {"max_block_size": 8 << 20, "max_single_put_size": 8 << 20,
                                "retry_total": 0}
        try:
            if creds.get("connection_string"):
                service = BlobServiceClient.from_connection_string(creds["connection_string"],
                                                                   **opts)
            else:
                account = creds.get("account_name", "")
                url = endpoint or (f"https://{account}.blob.core.windows.net" if account else "")
                if not url:
                    raise BackendError("azure storage needs a connection string or an account "
                                       "name (AZURE_STORAGE_CONNECTION_STRING or "
                                       "AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY)")
                credential: Any = None
                if creds.get("account_key"):
                    credential = {"account_name": account, "account_key": creds["account_key"]}
                elif creds.get("sas_token"):
                    credential = creds["sas_token"]
                service = BlobServiceClient(account_url=url, credential=credential, **opts)
        except BackendError:
            raise
        except Exception as e:
            raise BackendError(f"cannot set up an Azure client for container {bucket!r}: {e}; "
                               f"fix the connection string or account/key") from e
        self.endpoint = service.url
        self.service = service
        self.container = service.get_container_client(bucket)

    def describe(self) -> str:
        where = f"azure://{self.container_name}/{self.prefix}".rstrip("/")
        return f"{where} at {self.endpoint}"

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _error(self, e: BaseException, key: str = "") -> BackendError:
        from azure.core import exceptions as ax

        what = f"{self.container_name}/{self._key(key)}" if key else \
            f"container {self.container_name!r}"
        where = self.endpoint
        if isinstance(e, BackendError):
            return e
        code = str(getattr(e, "error_code", "") or "")
        if isinstance(e, ax.ResourceNotFoundError):
            if code == "ContainerNotFound" or not key:
                return BackendError(f"container {self.container_name!r} not found at {where}: "
                                    f"create it or fix the storage's bucket")
            return NotFound(f"{what} not found at {where}")
        if isinstance(e, ax.ResourceExistsError) or code in ("BlobAlreadyExists",
                                                             "ConditionNotMet"):
            return AlreadyExists(f"{what} already exists at {where}")
        if isinstance(e, ax.ClientAuthenticationError):
            return BackendError(f"authentication to {where} failed for {what}: fix the account "
                                f"key, SAS token or connection string ({code})")
        if isinstance(e, ax.HttpResponseError):
            status = getattr(e, "status_code", 0) or 0
            if status == 403:
                return BackendError(f"access denied to {what} at {where}: grant the identity "
                                    f"Storage Blob Data Contributor ({code})")
            return BackendError(f"Azure error {code or status} on {what} at {where}: "
                                f"{e.message}", permanent=not (status >= 500 or status == 429))
        if isinstance(e, ax.ServiceRequestError | ax.ServiceResponseError | OSError):
            return BackendError(f"cannot reach {where} for {what}: {e}; check the endpoint and "
                                f"the network", permanent=False)
        return BackendError(f"Azure request for {what} at {where} failed: {e!r}")

    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        try:
            body = bytes(data) if isinstance(data, (bytes, bytearray, memoryview)) else data
            self.container.upload_blob(self._key(key), body, overwrite=not if_absent,
                                       max_concurrency=4)
        except Exception as e:
            raise self._error(e, key) from e

    def get(self, key: str) -> bytes:
        try:
            return self.container.download_blob(self._key(key), max_concurrency=2).readall()
        except Exception as e:
            raise self._error(e, key) from e

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            return self.container.download_blob(self._key(key), offset=start,
                                                length=length).readall()
        except Exception as e:
            if getattr(e, "status_code", 0) == 416:
                return b""
            raise self._error(e, key) from e

    def open(self, key: str) -> BinaryIO:
        try:
            downloader = self.container.download_blob(self._key(key))
        except Exception as e:
            raise self._error(e, key) from e
        return ErrorMappingReader(_ChunkReader(downloader.chunks()),  # type: ignore[return-value]
                                  lambda e: self._error(e, key))

    def list(self, prefix: str = "") -> Iterator[str]:
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            for name in self.container.list_blob_names(name_starts_with=full or None):
                yield name[strip:]
        except Exception as e:
            raise self._error(e) from e

    def delete(self, key: str) -> None:
        try:
            self.container.delete_blob(self._key(key))
        except Exception as e:
            err = self._error(e, key)
            if not isinstance(err, NotFound):
                raise err from e

    def exists(self, key: str) -> bool:
        try:
            return bool(self.container.get_blob_client(self._key(key)).exists())
        except Exception as e:
            raise self._error(e, key) from e

    def close(self) -> None:
        self.service.close()


class _ChunkReader:
    """A file-like read() over an iterator of byte chunks."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = b""

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            rest = self._buf + b"".join(self._chunks)
            self._buf = b""
            return rest
        while len(self._buf) < size:
            nxt = next(self._chunks, None)
            if nxt is None:
                break
            self._buf += nxt
        out, self._buf = self._buf[:size], self._buf[size:]
        return out
