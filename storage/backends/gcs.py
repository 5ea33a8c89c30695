"""Google Cloud Storage (or an emulator at a custom endpoint) through google-cloud-storage."""
from __future__ import annotations

import json
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


class GCSBackend(Backend):
    kind = "gcs"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint: str = "",
                 credentials: dict[str, str] | None = None, project: str = "") -> None:
        if not bucket:
            raise BackendError("gcs storage needs a bucket: set the storage's bucket")
        self.bucket_name = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint
        creds = credentials or {}
        from google.cloud import storage

        options: dict[str, Any] = {}
        if endpoint:
            options["api_endpoint"] = endpoint
        try:
            if creds.get("service_account_json"):
                from google.oauth2 import service_account

                info = json.loads(creds["service_account_json"])
                sa = service_account.Credentials.from_service_account_info(info)  # type: ignore[no-untyped-call]
                client = storage.Client(project=project or info.get("project_id"),
                                        credentials=sa, client_options=options)
            elif endpoint:
                # Emulators take no credentials.
                from google.auth.credentials import AnonymousCredentials

                client = storage.Client(project=project or "emulator",
                                        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                                        client_options=options)
            else:
                client = storage.Client(project=project or None, client_options=options)
        except Exception as e:
            raise BackendError(f"cannot set up a GCS client for {self.describe()}: {e}; set "
                               f"GOOGLE_APPLICATION_CREDENTIALS or the storage's service "
                               f"account key") from e
        self.client = client
        self.bucket = client.bucket(bucket)

    def describe(self) -> str:
        where = f"gs://{self.bucket_name}/{self.prefix}".rstrip("/")
        return f"{where} at {self.endpoint}" if self.endpoint else where

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _error(self, e: BaseException, key: str = "", *, writing: bool = False) -> BackendError:
        from google.api_core import exceptions as gx

        what = f"gs://{self.bucket_name}/{self._key(key)}" if key else f"bucket {self.bucket_name!r}"
        where = self.endpoint or "Google Cloud Storage"
        if isinstance(e, BackendError):
            return e
        if isinstance(e, gx.NotFound):
            # A 404 on an upload, or one that says so, is the bucket; on a read it is the key.
            text = str(e).lower()
            if writing or not key or ("bucket" in text and "does not exist" in text):
                return BackendError(f"bucket {self.bucket_name!r} not found at {where}: create it "
                                    f"or fix the storage's bucket")
            return NotFound(f"{what} not found at {where}")
        if isinstance(e, gx.PreconditionFailed):
            return AlreadyExists(f"{what} already exists at {where}")
        if isinstance(e, gx.Forbidden | gx.Unauthorized):
            return BackendError(f"access denied to {what} at {where}: grant the service account "
                                f"Storage Object Admin on the bucket ({e.message})")
        if isinstance(e, gx.TooManyRequests | gx.ServerError | gx.RetryError):
            return BackendError(f"GCS error on {what} at {where}: {e}", permanent=False)
        if isinstance(e, gx.GoogleAPICallError):
            return BackendError(f"GCS error on {what} at {where}: {e}")
        if isinstance(e, OSError | ConnectionError) or "Connection" in type(e).__name__:
            return BackendError(f"cannot reach {where} for {what}: {e}; check the endpoint and "
                                f"the network", permanent=False)
        return BackendError(f"GCS request for {what} at {where} failed: {e!r}")

    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        blob = self.bucket.blob(self._key(key), chunk_size=16 << 20)
        # retry=None on every call: storage.retry is the one retry layer (backends/retrying.py).
        kwargs: dict[str, Any] = {"retry": None}
        if if_absent:
            kwargs["if_generation_match"] = 0
        try:
            if isinstance(data, (bytes, bytearray, memoryview)):
                blob.upload_from_string(bytes(data), content_type="application/octet-stream",
                                        **kwargs)
            else:
                blob.upload_from_file(data, content_type="application/octet-stream", **kwargs)
        except Exception as e:
            raise self._error(e, key, writing=True) from e

    def get(self, key: str) -> bytes:
        try:
            data: bytes = self.bucket.blob(self._key(key)).download_as_bytes(retry=None)
            return data
        except Exception as e:
            raise self._error(e, key) from e

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            data: bytes = self.bucket.blob(self._key(key)).download_as_bytes(
                start=start, end=start + length - 1, retry=None)
            return data
        except Exception as e:
            if "416" in str(e):
                return b""
            raise self._error(e, key) from e

    def open(self, key: str) -> BinaryIO:
        try:
            blob = self.bucket.get_blob(self._key(key), retry=None)
            if blob is None:
                raise NotFound(f"gs://{self.bucket_name}/{self._key(key)} not found")
            reader = blob.open("rb", chunk_size=8 << 20)
        except Exception as e:
            raise self._error(e, key) from e
        return ErrorMappingReader(reader, lambda e: self._error(e, key))  # type: ignore[return-value]

    def list(self, prefix: str = "") -> Iterator[str]:
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            for blob in self.client.list_blobs(self.bucket_name, prefix=full, retry=None):
                yield blob.name[strip:]
        except Exception as e:
            raise self._error(e) from e

    def delete(self, key: str) -> None:
        try:
            self.bucket.blob(self._key(key)).delete(retry=None)
        except Exception as e:
            err = self._error(e, key)
            if not isinstance(err, NotFound):
                raise err from e

    def exists(self, key: str) -> bool:
        try:
            return bool(self.bucket.blob(self._key(key)).exists(retry=None))
        except Exception as e:
            raise self._error(e, key) from e

    def close(self) -> None:
        self.client.close()
