"""A local directory (or a mounted volume) as storage."""
from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .base import (
    AlreadyExists,
    Backend,
    BackendError,
    ErrorMappingReader,
    NotFound,
    iter_chunks,
)


class LocalBackend(Backend):
    kind = "local"

    def __init__(self, root: str, *, create: bool = True) -> None:
        if not root:
            raise BackendError("local storage needs a directory: set its path")
        self.root = Path(root).expanduser().absolute()
        if create:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise self._error(e, "") from e

    def describe(self) -> str:
        return f"file://{self.root}"

    def _path(self, key: str) -> Path:
        key = key.lstrip("/")
        if not key or ".." in key.split("/"):
            raise BackendError(f"invalid key {key!r} for {self.describe()}")
        return self.root / key

    def _error(self, e: OSError, key: str) -> BackendError:
        where = f"{key!r} in {self.describe()}" if key else self.describe()
        if isinstance(e, FileNotFoundError):
            return NotFound(f"{where} not found")
        if isinstance(e, PermissionError):
            return BackendError(f"permission denied on {where}: give the process write access "
                                f"to the directory")
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            return BackendError(f"no space left for {where}: free space or enlarge the volume",
                                permanent=False)
        if e.errno == errno.EROFS:
            return BackendError(f"{where} is on a read-only file system: mount it read-write")
        return BackendError(f"{e.strerror or e} on {where}", permanent=False)

    def put(self, key: str, data: bytes | bytearray | BinaryIO, *, if_absent: bool = False) -> None:
        path = self._path(key)
        tmp = path.parent / f".tmp-{path.name}-{secrets.token_hex(6)}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            try:
                with os.fdopen(fd, "wb") as f:
                    for part in iter_chunks(data):
                        f.write(part)
                    f.flush()
                    os.fsync(f.fileno())
                if if_absent:
                    # link() fails if the target exists: an atomic "create only".
                    try:
                        os.link(tmp, path)
                    except FileExistsError:
                        raise AlreadyExists(f"{key!r} already exists in {self.describe()}") from None
                    os.unlink(tmp)
                else:
                    os.replace(tmp, path)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
            dfd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as e:
            raise self._error(e, key) from e

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except OSError as e:
            raise self._error(e, key) from e

    def get_range(self, key: str, start: int, length: int) -> bytes:
        try:
            with open(self._path(key), "rb") as f:
                f.seek(start)
                return f.read(length)
        except OSError as e:
            raise self._error(e, key) from e

    def open(self, key: str) -> BinaryIO:
        try:
            f = open(self._path(key), "rb")  # noqa: SIM115 - the caller closes it
        except OSError as e:
            raise self._error(e, key) from e
        return ErrorMappingReader(f, lambda e: self._error(e, key) if isinstance(e, OSError)  # type: ignore[return-value]
                                  else BackendError(str(e)))

    def list(self, prefix: str = "") -> Iterator[str]:
        prefix = prefix.lstrip("/")
        # Walk only the directory that contains the prefix.
        base = self.root / prefix.rsplit("/", 1)[0] if "/" in prefix else self.root
        if not base.is_dir():
            return
        try:
            for dirpath, dirnames, filenames in os.walk(base):
                dirnames.sort()
                rel = os.path.relpath(dirpath, self.root)
                rel = "" if rel == "." else rel.replace(os.sep, "/") + "/"
                for name in sorted(filenames):
                    if name.startswith(".tmp-"):
                        continue
                    key = rel + name
                    if key.startswith(prefix):
                        yield key
        except OSError as e:
            raise self._error(e, prefix) from e

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            return
        except OSError as e:
            raise self._error(e, key) from e

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
