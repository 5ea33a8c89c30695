"""Large buffers go back to the system when freed, once a dump or a restore has begun
(backups/elastic/memory.py). Each case runs in a fresh interpreter: malloc's threshold is
process-wide and moves with what the process freed before."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]

# After a 16 MB block is freed, glibc raises its mmap threshold to 16 MB: a 12 MB buffer
# then comes from the heap and stays resident once freed, unless the threshold is fixed.
SCRIPT = """
import sys, types
from backups.elastic.connection import ClusterConfig, ClusterError, connect

def rss_kb():
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS:"))

conn = connect(ClusterConfig(urls=[sys.argv[2]]))
if sys.argv[1] == "dump":
    from backups.elastic.dump import DumpParams, dump_cluster
    try:
        dump_cluster(conn, None, DumpParams(include=["no-such-index-*"], metadata_kinds=()))
    except ClusterError:
        pass   # nothing matches: the dump stops before it reads
elif sys.argv[1] == "restore":
    from restores.load import LoadParams, load_snapshot
    try:
        load_snapshot(conn, types.SimpleNamespace(streams={}, meta={}), lambda name: [], LoadParams(metadata_kinds=()))
    except ValueError:
        pass   # nothing matches: the restore stops before it loads
a = b"a" * (16 << 20)
del a
before = rss_kb()
b = b"b" * (12 << 20)
del b
print(rss_kb() - before)
"""


def _kept_kb(entry: str, url: str) -> int:
    out = subprocess.run([sys.executable, "-c", SCRIPT, entry, url], cwd=ROOT, capture_output=True, text=True,
                         check=True, timeout=120)
    return int(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc")
@pytest.mark.search_kinds("osmem")
@pytest.mark.parametrize("entry", ["dump", "restore"])
def test_a_freed_buffer_of_megabytes_leaves_memory_once_a_dump_or_restore_began(entry: str, cluster_url: str) -> None:
    assert _kept_kb("none", cluster_url) > 8 << 10     # what the tuning stops: the freed 12 MB stays
    assert _kept_kb(entry, cluster_url) < 2 << 10
