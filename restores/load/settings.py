"""An index's settings on the way into the target: what the cluster sets itself is
dropped; replicas 0 and the server's default refresh while the load runs, the snapshot's
own put back afterwards."""
from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_path

# Settings Elasticsearch/OpenSearch set themselves and refuse on create.
_DROP_SETTINGS = (
    "uuid", "creation_date", "creation_date_string", "version", "provided_name", "resize",
    "routing.allocation.initial_recovery", "verified_before_close", "history_uuid", "shrink",
    "frozen", "search.throttled",
)
_UNKNOWN_SETTING = re.compile(r"(?:unknown setting|private index setting|archived setting) \[([^\]]+)\]")


@dataclass(frozen=True)
class PutBack:
    """The settings the load changed on an index it created, to put back at the end."""
    number_of_replicas: Any
    refresh_interval: Any
    blocks: Any = None


def delete_path(d: dict[str, Any], dotted: str) -> bool:
    """Remove a setting given flat ("a.b.c") from a nested or partly flat dict."""
    if dotted in d:
        del d[dotted]
        return True
    head, _, rest = dotted.partition(".")
    for k in list(d):
        if not rest or not isinstance(d[k], dict):
            continue
        # nested ("routing": {"allocation": …}) or partly flat ("routing.allocation": {…})
        sub = rest if k == head else dotted[len(k) + 1:] if dotted.startswith(k + ".") else None
        if sub is not None and delete_path(d[k], sub):
            if not d[k]:
                del d[k]
            return True
    return False


def creatable_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """The snapshot's settings minus what the cluster sets itself."""
    s = copy.deepcopy(settings or {})
    index = s.get("index", s)
    for key in _DROP_SETTINGS:
        delete_path(index, key)
    return s


def get_setting(settings: dict[str, Any], key: str) -> Any:
    index = settings.get("index", settings)
    if key in index:
        return index[key]
    cur: Any = index
    for part in key.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return None
        cur = cur[part]
    return cur


def load_settings(snapshot_settings: dict[str, Any]) -> tuple[dict[str, Any], PutBack]:
    """The settings to create the index with during the load, and what to put back."""
    settings = creatable_settings(snapshot_settings)
    replicas = get_setting(settings, "number_of_replicas")
    blocks = get_setting(settings, "blocks")
    # a snapshot written by hand or another tool may hold the integer 0: keep it
    put_back = PutBack(1 if replicas is None else replicas, get_setting(settings, "refresh_interval"),
                       blocks or None)
    if blocks:
        delete_path(settings.get("index", settings), "blocks")
    index = settings.setdefault("index", {}) if "index" in settings or not settings else settings
    delete_path(index, "number_of_replicas")
    # Refresh stays the server's default (every second until the index has gone 30 s
    # without a search), not off (-1): off, the load ended with one refresh of all it had
    # buffered, alone on the server (at 200,000 documents on Elasticsearch 8, 2.7-10.6 s
    # after the last _bulk against 0.5-0.7 s; bench/elastic_bench.py --writes-only).
    delete_path(index, "refresh_interval")
    index["number_of_replicas"] = 0
    return settings, put_back


def create_index(conn: Connection, target: str, meta: Mapping[str, Any], warnings: list[str]) -> PutBack:
    """Create the index for a load; returns the settings to put back afterwards."""
    settings, put_back = load_settings(meta.get("settings") or {})
    body = {"settings": settings, "mappings": meta.get("mappings") or {}}
    for _ in range(50):
        try:
            conn.request("PUT", index_path(target), body, index=target,
                         privilege=f"create_index (or manage) on index {target}")
            break
        except ClusterError as e:
            m = _UNKNOWN_SETTING.search(str(e))
            if e.status == 400 and m and delete_path(settings.get("index", settings), m.group(1).removeprefix("index.")):
                # another version or distribution: drop what it cannot set, say so
                warnings.append(f"{target}: setting {m.group(1)} dropped: the target cluster refuses it")
                continue
            raise
    try:
        conn.request("GET", f"/_cluster/health/{target}", params={"wait_for_status": "yellow", "timeout": "60s"})
    except ClusterError:
        pass  # not every server implements per-index health; the bulk retries cover a slow start
    return put_back


def restore_settings(conn: Connection, target: str, put_back: PutBack) -> None:
    if str(put_back.number_of_replicas) == "0" and put_back.refresh_interval is None and not put_back.blocks:
        return   # what the load ran with (load_settings): nothing to put back, no cluster state update
    index: dict[str, Any] = {"number_of_replicas": put_back.number_of_replicas,
                             "refresh_interval": put_back.refresh_interval}
    if put_back.blocks:
        index["blocks"] = put_back.blocks
    conn.request("PUT", f"{index_path(target)}/_settings", {"index": index}, index=target,
                 privilege=f"manage on index {target}")
