"""Load a snapshot: the chosen cluster metadata, then each chosen index one after the
other (restores.rules chooses them and checks the rename), then every data stream the
load created verified as a whole."""
from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import replace

from backups.elastic.connection import ClusterError, Connection, index_path
from backups.elastic.dump import STREAM_PREFIX, Cancelled
from backups.elastic.memory import release_large_buffers
from backups.elastic.metadata import nothing_matches
from backups.elastic.results import RunTotals, SnapshotManifest
from restores import rules
from restores.load.cluster import load_cluster_metadata
from restores.load.index import load_index
from restores.load.params import IndexLoaded, LoadParams, LoadResult
from restores.rename import Renamer
from storage.repo.format import RepositoryError

OpenStream = Callable[[str], Iterable[bytes]]


def manifest_facts(manifest: SnapshotManifest) -> dict[str, rules.IndexFacts]:
    """The indices a snapshot holds a stream for, by source name (restores.rules' input)."""
    out = {}
    for name, entry in (manifest.streams or {}).items():
        if name.startswith(STREAM_PREFIX):
            meta = entry.meta or {}
            size = (meta.get("composed") or {}).get("size", getattr(entry, "size", None))   # an incremental's layers
            out[name[len(STREAM_PREFIX):]] = rules.IndexFacts(int(meta.get("docs") or 0), size,
                                                              str(meta.get("data_stream") or ""))
    return out


def choices(manifest: SnapshotManifest, params: LoadParams, rename: Renamer | None = None) -> list[rules.Choice]:
    """The snapshot's indices a restore with `params` loads and where each goes, sorted by
    source name (restores.rules.choose over the manifest)."""
    rename = rename or Renamer(params.rename_pattern, params.rename_replacement)
    return rules.choose(manifest_facts(manifest), params.include, params.exclude, rename)


def _chosen(manifest: SnapshotManifest, params: LoadParams, rename: Renamer) -> list[rules.Choice]:
    chosen = choices(manifest, params, rename)
    if not chosen:
        sources = sorted(manifest_facts(manifest))
        raise ValueError(nothing_matches("the snapshot", params.include, params.exclude, sources))
    clash = rules.collision(chosen)
    if clash:
        raise ValueError(clash)
    return chosen


def load_snapshot(conn: Connection, manifest: SnapshotManifest, open_stream: OpenStream, params: LoadParams | None = None, *,
                  cancel: threading.Event | None = None) -> LoadResult:
    """Restore the chosen indices of `manifest` into `conn` (see docs/engine-interface.md).

    Each index is loaded one after the other (its bulk requests in parallel); an index
    that fails is recorded with its error and the others go on; `ok` is False then.
    Progress goes to `params.progress`."""
    params = params or LoadParams()
    cancel = cancel or threading.Event()
    release_large_buffers()   # 10 MB bulk bodies and chunks: see backups/elastic/memory.py
    if conn.dialect is None:
        conn.identify()
    rename = Renamer(params.rename_pattern, params.rename_replacement)
    result = LoadResult(indices={}, metadata={}, ok=True)
    if params.metadata_kinds:
        cluster_meta = (getattr(manifest, "meta", None) or {}).get("cluster_metadata") or {}
        result.metadata = load_cluster_metadata(conn, cluster_meta, params, rename)
        if any(v.startswith("error") for kind in result.metadata.values() for v in kind.values()):
            result.ok = False
    loaded: dict[str, IndexLoaded] = {}
    totals, ds_state = RunTotals(), dict[str, str]()
    for choice in _chosen(manifest, params, rename):
        name = STREAM_PREFIX + choice.source
        t0 = time.monotonic()
        try:
            if cancel.is_set():
                raise Cancelled(f"restore of {choice.target} cancelled")
            loaded[choice.target] = load_index(
                conn, choice.source, choice.target, manifest.streams[name].meta, functools.partial(open_stream, name),
                params, rename, cancel=cancel, warnings=result.warnings, totals=totals, data_streams=ds_state)
        except (ClusterError, Cancelled, ValueError, RepositoryError) as e:
            loaded[choice.target] = IndexLoaded(choice.source, "Failed", error=str(e), bytes=0,
                                                duration=time.monotonic() - t0)
    if params.verify:
        loaded = _verify_data_streams(conn, loaded, [ds for ds, state in ds_state.items() if state == "created"])
    result.indices = {target: done.to_json() for target, done in loaded.items()}
    result.ok = result.ok and all(done.status != "Failed" for done in loaded.values())
    return result


def _verify_data_streams(conn: Connection, loaded: dict[str, IndexLoaded], created: list[str]) -> dict[str, IndexLoaded]:
    """A data stream this load created holds every document of its backing indices."""
    out = dict(loaded)
    for ds in created:
        parts = {t: x for t, x in loaded.items() if x.data_stream == ds}
        want = sum(x.expected or 0 for x in parts.values())
        conn.request("POST", f"{index_path(ds)}/_refresh")
        got = int(conn.json("GET", f"{index_path(ds)}/_count")["count"])
        if got != want:
            for t, x in parts.items():
                out[t] = replace(x, status="Failed",
                                 error=f"data stream {ds} holds {got} documents after the restore, the snapshot has {want}")
    return out
