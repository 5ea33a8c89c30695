"""Large buffers go back to the system as soon as they are freed.

A dump and a restore pass buffers of megabytes through threads: search pages (~7 MB),
chunks (0.5-4 MB), `_bulk` bodies (10 MB). glibc's malloc serves a block above its mmap
threshold with its own mapping, unmapped when freed, but raises the threshold to the size
of each such block freed (up to 32 MiB): after the first page or bulk, every later one
comes from the heap of whichever thread allocates it, where freed space stays resident.
Measured on a restore of 2,000,000 documents (the read and batch path alone, two
senders): 123 MB growing to 131 MB with the moving threshold, 96-109 MB flat with it fixed
at 4 MiB, in the same time.

Chunks (about 1 MiB) stay under that threshold and come from the heap ("arena") of the
thread that allocates them; glibc gives up to eight arenas per core, each keeping its
freed space. Two arenas for the whole process hold less: a writer storing 256 MiB of
incompressible data peaked at 93-95 MiB with the threshold alone and 86-87 MiB with two
arenas, in less time (3.6 s against 4.3 s, sys 1.0-1.3 s against 1.8-2.1 s: 256 parts of
1 MiB through Repository.writer on a local directory, MALLOC_ARENA_MAX=2 against unset).
`bench/elastic_bench.py --target elasticsearch-8 --n 200000 --rss-only`, one run each:
dump 123 -> 121 MB in 5.67 -> 5.18 s, restore 117 -> 106 MB in 17.3 -> 16.1 s; with this
mallopt() in place of the variable: dump 114 MB in 5.04 s, restore 105 MB in 17.6 s.
"""
from __future__ import annotations

import ctypes
import sys
import threading

M_MMAP_THRESHOLD = -3          # glibc's mallopt() parameter (malloc.h)
MMAP_THRESHOLD = 4 << 20       # blocks from 4 MiB are mapped alone; chunks under it reuse the heap
M_ARENA_MAX = -8               # mallopt(): the most heaps threads share
ARENA_MAX = 2

_lock = threading.Lock()
_fixed: bool | None = None


def release_large_buffers() -> bool:
    """Fix malloc's mmap threshold (process-wide, once); False where there is no glibc
    mallopt() (another libc or system: nothing changes)."""
    global _fixed
    with _lock:
        if _fixed is None:
            _fixed = _mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
            _mallopt(M_ARENA_MAX, ARENA_MAX)   # threads started from now on share two heaps
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
