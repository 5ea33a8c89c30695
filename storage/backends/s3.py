"""Any S3-compatible object store (AWS, MinIO, SeaweedFS, Ceph…) through boto3."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any, BinaryIO

from .base import (
    AlreadyExists,
    Backend,
    BackendError,
    ErrorMappingReader,
    NotFound,
    join_key,
    speaks_plain_http,
)

# Objects larger than this go up in parts (and in parallel): S3 rejects single PUTs
# above 5 GiB and a failed part is cheaper to retry than a whole object.
MULTIPART_THRESHOLD = 64 << 20
MULTIPART_CHUNKSIZE = 16 << 20

_PERMANENT_CODES = {
    "NoSuchBucket": "bucket {bucket!r} not found at {endpoint}: create it or fix the storage's bucket",
    "AccessDenied": "access denied to {what} at {endpoint}: grant the key s3:GetObject/PutObject/"
                    "DeleteObject/ListBucket on the bucket",
    "InvalidAccessKeyId": "access key id rejected by {endpoint}: fix the storage's access key",
    "SignatureDoesNotMatch": "signature rejected by {endpoint}: fix the storage's secret key "
                             "(or its region)",
    "AuthorizationHeaderMalformed": "authorization rejected by {endpoint}: fix the storage's region",
    "PermanentRedirect": "bucket {bucket!r} lives in another region: fix the storage's region "
                         "or endpoint",
    "InvalidBucketName": "invalid bucket name {bucket!r}: fix the storage's bucket",
    "ExpiredToken": "credentials for {endpoint} expired: renew the session token",
    "InvalidToken": "session token rejected by {endpoint}: fix the storage's credentials",
}
_TRANSIENT_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout",
                    "RequestTimeTooSkewed", "InternalError", "ServiceUnavailable",
                    "RequestLimitExceeded", "OperationAborted"}


class S3Backend(Backend):
    kind = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint: str = "", region: str = "",
                 path_style: bool = False, ca_bundle: str = "", insecure: bool = False,
                 credentials: dict[str, str] | None = None, max_attempts: int = 1,
                 max_pool_connections: int = 32) -> None:
        if not bucket:
            raise BackendError("s3 storage needs a bucket: set the storage's bucket")
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.endpoint = endpoint
        self.region = region or "us-east-1"
        creds = credentials or {}
        import boto3
        from boto3.s3.transfer import TransferConfig
        from botocore.config import Config

        config = Config(
            region_name=self.region,
            # One attempt: storage.retry retries every call (backends/retrying.py), and
            # botocore's own retries nested inside would multiply its budget.
            retries={"mode": "standard", "max_attempts": max_attempts},
            s3={"addressing_style": "path" if path_style else "auto"},
            max_pool_connections=max_pool_connections,
            connect_timeout=10, read_timeout=120,
            # Only checksum when the server asks: many S3-compatible servers reject the
            # trailing CRC checksums that newer boto3 adds by default.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
        )
        verify: bool | str | None = None
        if insecure:
            verify = False
        elif ca_bundle:
            verify = ca_bundle
        session = boto3.session.Session(
            aws_access_key_id=creds.get("access_key_id") or None,
            aws_secret_access_key=creds.get("secret_access_key") or None,
            aws_session_token=creds.get("session_token") or None,
        )
        try:
            self.client = session.client("s3", endpoint_url=endpoint or None, config=config,
                                         verify=verify)
        except Exception as e:
            raise BackendError(f"cannot set up an S3 client for {self.describe()}: {e}") from e
        self.transfer = TransferConfig(multipart_threshold=MULTIPART_THRESHOLD,
                                       multipart_chunksize=MULTIPART_CHUNKSIZE, max_concurrency=4,
                                       use_threads=True)
        self._lock = threading.Lock()

    def describe(self) -> str:
        where = f"s3://{self.bucket}/{self.prefix}".rstrip("/")
        return f"{where} at {self.endpoint or 'AWS ' + self.region}"

    def _key(self, key: str) -> str:
        return join_key(self.prefix, key)

    def _error(self, e: BaseException, key: str = "") -> BackendError:
        from botocore import exceptions as bx

        endpoint = self.endpoint or f"AWS S3 ({self.region})"
        what = f"s3://{self.bucket}/{self._key(key)}" if key else f"bucket {self.bucket!r}"
        if isinstance(e, BackendError):
            return e
        if isinstance(e, bx.ClientError):
            err = e.response.get("Error", {})
            code = str(err.get("Code", ""))
            status = int(e.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
            if code in ("NoSuchKey", "404", "NotFound") and key:
                return NotFound(f"{what} not found at {endpoint}")
            if code == "NoSuchBucket" or (code in ("404", "NotFound") and not key):
                # A missing bucket is a configuration error, not a missing key.
                return BackendError(_PERMANENT_CODES["NoSuchBucket"].format(
                    bucket=self.bucket, endpoint=endpoint, what=what))
            if code in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                return AlreadyExists(f"{what} already exists at {endpoint}")
            if code in _PERMANENT_CODES:
                return BackendError(_PERMANENT_CODES[code].format(
                    bucket=self.bucket, endpoint=endpoint, what=what))
            if code == "403" or status == 403:
                return BackendError(_PERMANENT_CODES["AccessDenied"].format(
                    bucket=self.bucket, endpoint=endpoint, what=what))
            transient = code in _TRANSIENT_CODES or status >= 500 or status == 429
            return BackendError(f"S3 error {code or status} on {what} at {endpoint}: "
                                f"{err.get('Message', e)}", permanent=not transient)
        if isinstance(e, bx.NoCredentialsError | bx.PartialCredentialsError):
            return BackendError(f"no S3 credentials for {self.describe()}: set the access key and "
                                f"secret (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)")
        if isinstance(e, bx.SSLError) and speaks_plain_http(e):
            plain = endpoint.replace("https://", "http://", 1)
            return BackendError(f"{endpoint} speaks plain HTTP, not TLS: write the endpoint as {plain} "
                                f"(or point https:// at the port that serves TLS)")
        if isinstance(e, bx.SSLError):
            return BackendError(f"TLS error talking to {endpoint}: {e}; set a CA bundle for a "
                                f"private CA (or 'insecure' for testing)")
        if isinstance(e, bx.EndpointConnectionError | bx.ConnectionClosedError
                      | bx.ReadTimeoutError | bx.ConnectTimeoutError):
            return BackendError(f"cannot reach {endpoint} for {what}: {e}; check the endpoint "
                                f"and the network", permanent=False)
        if isinstance(e, bx.BotoCoreError | OSError):
            return BackendError(f"S3 request for {what} at {endpoint} failed: {e}",
                                permanent=False)
        return BackendError(f"S3 request for {what} at {endpoint} failed: {e!r}")

    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        k = self._key(key)
        try:
            if isinstance(data, (bytes, bytearray, memoryview)):
                # bytes and bytearray go as they are: a 16 MiB pack is not copied again.
                body = data if isinstance(data, (bytes, bytearray)) else bytes(data)
                args: dict[str, Any] = {"Bucket": self.bucket, "Key": k, "Body": body}
                if if_absent:
                    args["IfNoneMatch"] = "*"
                self.client.put_object(**args)
                return
            if if_absent and self.exists(key):
                # Multipart uploads cannot be conditional everywhere; a check first
                # narrows the race, which callers tolerate (ids are unique or content-addressed).
                raise AlreadyExists(f"s3://{self.bucket}/{k} already exists at {self.endpoint}")
            self.client.upload_fileobj(data, self.bucket, k, Config=self.transfer)
        except Exception as e:
            raise self._error(_unwrap_transfer(e), key) from e

    def get(self, key: str) -> bytes:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
            try:
                data: bytes = body.read()
                return data
            finally:
                body.close()
        except Exception as e:
            raise self._error(e, key) from e

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            return b""
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key),
                                          Range=f"bytes={start}-{start + length - 1}")["Body"]
            try:
                data: bytes = body.read()
                return data
            finally:
                body.close()
        except Exception as e:
            if _code(e) == "InvalidRange":
                return b""
            raise self._error(e, key) from e

    def open(self, key: str) -> BinaryIO:
        try:
            body = self.client.get_object(Bucket=self.bucket, Key=self._key(key))["Body"]
        except Exception as e:
            raise self._error(e, key) from e
        return ErrorMappingReader(body, lambda e: self._error(e, key))  # type: ignore[return-value]

    def list(self, prefix: str = "") -> Iterator[str]:
        full = self._key(prefix) if prefix else (self.prefix + "/" if self.prefix else "")
        strip = len(self.prefix) + 1 if self.prefix else 0
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=full)
            for page in pages:
                for obj in page.get("Contents", []):
                    yield obj["Key"][strip:]
        except Exception as e:
            raise self._error(e) from e

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except Exception as e:
            err = self._error(e, key)
            if not isinstance(err, NotFound):
                raise err from e

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
            return True
        except Exception as e:
            err = self._error(e, key)
            if isinstance(err, NotFound):
                return False
            raise err from e

    def close(self) -> None:
        self.client.close()


def _code(e: BaseException) -> str:
    response = getattr(e, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def _unwrap_transfer(e: BaseException) -> BaseException:
    # s3transfer wraps the ClientError of a failed part in its own exception.
    from boto3.exceptions import S3UploadFailedError

    context: BaseException | None = e.__context__
    if isinstance(e, S3UploadFailedError) and context is not None:
        return context
    return e
