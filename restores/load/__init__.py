"""Load a snapshot into a cluster (the restore half of the streaming engine, no Django).

Order: cluster metadata (component templates → index templates → legacy templates →
ingest pipelines → lifecycle policies, as chosen; `cluster.py`) → per index (`index.py`):
create with settings and mappings (replicas 0, the default refresh during the load; `settings.py`)
→ parallel `_bulk` bounded in bytes (`bulk.py`) → restore replicas/refresh → aliases →
refresh and verify the count. Which indices, under which names: restores.rules.

Nothing is silently lost: throttling (429), 502/503/504 and connection errors are retried
with backoff and jitter, rejected items are resent, and items that can never index are
counted, reported with the first reasons, and fail the index.
"""
from __future__ import annotations

from restores.load.bulk import LINE as _LINE
from restores.load.bulk import split_lines
from restores.load.cluster import load_cluster_metadata
from restores.load.index import load_index, policy_for
from restores.load.params import IndexLoaded, LoadParams, LoadResult, Progress
from restores.load.settings import creatable_settings
from restores.load.snapshot import choices, load_snapshot, manifest_facts

__all__ = ["_LINE", "IndexLoaded", "LoadParams", "LoadResult", "Progress", "choices", "creatable_settings",
           "load_cluster_metadata", "load_index", "load_snapshot", "manifest_facts", "policy_for", "split_lines"]
