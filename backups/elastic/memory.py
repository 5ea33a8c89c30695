"""Large buffers go back to the system as soon as they are freed.

A dump and a restore pass buffers of megabytes through threads: search pages (~7 MB),
chunks (0.5-4 MB), `_bulk` bodies (10 MB). glibc's malloc serves a block above its mmap
threshold with its own mapping, unmapped when freed, but raises the threshold to the size
of each such block freed (up to 32 MiB): after the first page or bulk, every later one
comes from the heap of whichever thread allocates it, where freed space stays resident.
Measured on a restore of 2,000,000 documents (the read and batch path alone, two
senders): 123 MB growing to 131 MB with the moving threshold, 96-109 MB flat with it fixed
at 4 MiB, in the same time.
"""
from __future__ import annotations

import ctypes
import sys
import threading

M_MMAP_THRESHOLD = -3          # glibc's mallopt() parameter (malloc.h)
MMAP_THRESHOLD = 4 << 20       # blocks from 4 MiB are mapped alone; chunks under it reuse the heap

_lock = threading.Lock()
_fixed: bool | None = None


def release_large_buffers() -> bool:
    """Fix malloc's mmap threshold (process-wide, once); False where there is no glibc
    mallopt() (another libc or system: nothing changes)."""
    global _fixed
    with _lock:
        if _fixed is None:
            _fixed = _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
        return _fixed


def _mallopt(param: int, value: int) -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(param, value))   # 1 on success; musl's is a no-op that answers 0
