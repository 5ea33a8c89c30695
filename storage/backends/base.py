"""The one small interface every storage backend implements, and its one exception type."""
from __future__ import annotations

import contextlib
import io
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO


class BackendError(Exception):
    """Any failure of a backend call.

    `permanent` tells retry logic whether trying again may help (False for 5xx,
    throttling, connection resets). The message names the bucket/key/endpoint and
    what the user should fix.
    """

    def __init__(self, message: str, *, permanent: bool = True) -> None:
        super().__init__(message)
        self.permanent = permanent


class NotFound(BackendError):
    """The key (or the bucket) does not exist."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


class AlreadyExists(BackendError):
    """A put with if_absent=True found the key already there."""

    def __init__(self, message: str) -> None:
        super().__init__(message, permanent=True)


# What OpenSSL says when the server answers a TLS hello in plain HTTP: 1.1 and 3.0 call it
# a wrong version number, 3.2 and later a record layer failure.
_PLAIN_HTTP_MARKS = ("wrong version number", "record layer failure")


def speaks_plain_http(e: BaseException) -> bool:
    """True for a TLS error that means the port speaks plain HTTP (https:// to an http:// port)."""
    text = str(e).lower()
    return any(mark in text for mark in _PLAIN_HTTP_MARKS)


def join_key(prefix: str, key: str) -> str:
    prefix = prefix.strip("/")
    key = key.lstrip("/")
    return f"{prefix}/{key}" if prefix else key


class Backend(ABC):
    """put a stream, get a stream or a range, list a prefix, delete, exists.

    Keys are relative to the backend's root (bucket + prefix, or directory) and use "/".
    """

    kind: str = ""

    @abstractmethod
    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        """Store data at key (atomically: readers see the old object or the whole new one).

        With if_absent=True, raise AlreadyExists rather than overwrite.
        """

    @abstractmethod
    def get(self, key: str) -> bytes: ...

    @abstractmethod
    def get_range(self, key: str, start: int, length: int) -> bytes: ...

    @abstractmethod
    def open(self, key: str) -> BinaryIO:
        """A streaming reader of the object; errors while reading are BackendErrors too."""

    @abstractmethod
    def list(self, prefix: str = "") -> Iterator[str]:
        """Keys (relative to the root) that start with prefix, in no particular order."""

    @abstractmethod
    def delete(self, key: str) -> None:
        """Delete key; deleting a missing key is not an error."""

    @abstractmethod
    def exists(self, key: str) -> bool: ...

    @abstractmethod
    def describe(self) -> str:
        """Where this backend points, for messages: "s3://bucket/prefix at http://…"."""

    def close(self) -> None:
        """Release clients and connection pools."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


class ErrorMappingReader(io.RawIOBase):
    """Wraps a readable so that errors raised while streaming become BackendErrors."""

    def __init__(self, raw: Any, mapper: Callable[[BaseException], BackendError],
                 on_close: Callable[[], None] | None = None) -> None:
        self._raw = raw
        self._mapper = mapper
        self._on_close = on_close

    def readable(self) -> bool:
        return True

    def read(self, size: int | None = -1) -> bytes:
        try:
            return self._raw.read(size) or b""
        except BackendError:
            raise
        except Exception as e:
            raise self._mapper(e) from e

    def readinto(self, b: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def readall(self) -> bytes:
        parts: list[bytes] = []
        while True:
            part = self.read(1 << 20)
            if not part:
                return b"".join(parts)
            parts.append(part)

    def close(self) -> None:
        if not self.closed:
            with contextlib.suppress(Exception):
                close = getattr(self._raw, "close", None)
                if close:
                    close()
            if self._on_close:
                self._on_close()
        super().close()


def iter_chunks(data: bytes | bytearray | BinaryIO, size: int = 8 << 20) -> Iterator[bytes | bytearray]:
    if isinstance(data, (bytes, bytearray, memoryview)):
        yield data  # written as is, not copied
        return
    while True:
        part = data.read(size)
        if not part:
            return
        yield part
