"""Index selection and the metadata stored beside the data: per index settings, mappings
and aliases; per cluster templates, pipelines and lifecycle policies."""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backups.elastic.connection import ClusterError, Connection, index_list_paths
from backups.elastic.results import IndexMetadata

CLUSTER_KINDS = ("component_templates", "index_templates", "legacy_templates",
                 "ingest_pipelines", "lifecycle_policies")


@dataclass
class IndexInfo:
    name: str
    status: str          # "open" | "close"
    health: str          # "green" | "yellow" | "red" | ""
    uuid: str
    shards: int
    hidden: bool
    settings: dict[str, Any]
    # each shard's primary term, from the cluster state (None: the server would not say);
    # an incremental dump compares them with the previous snapshot's
    primary_terms: dict[str, int] | None = None


def _truthy(v: Any) -> bool:
    return v is True or str(v).lower() == "true"


def list_indices(conn: Connection) -> list[IndexInfo]:
    """Every index of the cluster, hidden and closed ones included.

    From index settings, the cluster state (open/close) and cluster health: answered by
    the master from its own state. `_cat/indices` gathers statistics from every node (on
    osmem-server it counts every document), so it is only the fallback for a user who
    may not read the cluster state."""
    settings = conn.json("GET", "/_all/_settings", params={"expand_wildcards": "all"},
                         privilege="view_index_metadata on the indices")
    terms: dict[str, dict[str, int]] = {}
    try:
        status, health, terms = _status_and_health(conn)
    except ClusterError as e:
        if e.status not in (400, 403, 404, 405):
            raise
        status, health = _status_and_health_cat(conn)
    out = []
    for name, doc in settings.items():
        s = doc.get("settings") or {}
        idx = s.get("index") or {}
        out.append(IndexInfo(
            name=name, status=status.get(name) or "open", health=health.get(name) or "",
            uuid=idx.get("uuid", ""), shards=int(idx.get("number_of_shards") or 1),
            hidden=_truthy(idx.get("hidden")) or name.startswith("."), settings=s, primary_terms=terms.get(name)))
    return sorted(out, key=lambda i: i.name)


_LIST_PRIVILEGE = "monitor (cluster) and view_index_metadata on the indices"


def _status_and_health(conn: Connection) -> tuple[dict[str, str], dict[str, str], dict[str, dict[str, int]]]:
    state = conn.json("GET", "/_cluster/state/metadata",
                      params={"filter_path": "metadata.indices.*.state,metadata.indices.*.primary_terms",
                              "expand_wildcards": "all"},
                      privilege=_LIST_PRIVILEGE)
    health = conn.json("GET", "/_cluster/health", params={"level": "indices", "expand_wildcards": "all"},
                       privilege=_LIST_PRIVILEGE)
    states = (state.get("metadata") or {}).get("indices") or {}
    return ({n: str(v.get("state") or "") for n, v in states.items()},
            {n: str(v.get("status") or "") for n, v in (health.get("indices") or {}).items()},
            {n: {str(k): int(t) for k, t in v["primary_terms"].items()}
             for n, v in states.items() if isinstance(v.get("primary_terms"), dict)})


def _status_and_health_cat(conn: Connection) -> tuple[dict[str, str], dict[str, str]]:
    rows = conn.json("GET", "/_cat/indices", params={
        "format": "json", "expand_wildcards": "all", "h": "index,status,health"}, privilege=_LIST_PRIVILEGE)
    return ({r["index"]: r.get("status") or "" for r in rows}, {r["index"]: r.get("health") or "" for r in rows})


def matches(name: str, include: Iterable[str], exclude: Iterable[str]) -> bool:
    inc = list(include) or ["*"]
    return any(fnmatch.fnmatchcase(name, p) for p in inc) and not any(
        fnmatch.fnmatchcase(name, p) for p in exclude)


def nothing_matches(what: str, include: Iterable[str], exclude: Iterable[str], existing: Iterable[str],
                    limit: int = 20) -> str:
    """The message for a selection that chose nothing: the patterns, and the names there
    are (the first `limit` of them), so the fix is in sight."""
    names = sorted(existing)
    shown = ", ".join(names[:limit]) + (f", … ({len(names)} in all)" if len(names) > limit else "")
    return (f"no index matches include {list(include) or ['*']} / exclude {list(exclude)}: {what} "
            + (f"has {shown}" if names else "has no index") + "; fix the index patterns")


def select_indices(indices: list[IndexInfo], include: Iterable[str], exclude: Iterable[str],
                   include_hidden: bool) -> list[IndexInfo]:
    """Pattern selection; hidden and system (dot) indices only when asked for, or when a
    pattern names them explicitly (a pattern starting with a dot)."""
    inc = list(include) or ["*"]
    out = []
    for info in indices:
        if not matches(info.name, inc, exclude):
            continue
        if info.hidden and not include_hidden and not any(
                p.startswith(".") and fnmatch.fnmatchcase(info.name, p) for p in inc):
            continue
        out.append(info)
    return out


def data_streams(conn: Connection) -> dict[str, Any]:
    """{"items": {name: {"indices": [backing index names, oldest first], "timestamp_field",
    "template"}}} or {"unsupported": reason} when the server has no data streams."""
    try:
        params = conn.dialect.data_stream_list_params if conn.dialect else {}
        doc = conn.json("GET", "/_data_stream", params=params,
                        privilege="view_index_metadata on the data streams (or monitor)")
    except ClusterError as e:
        if _unsupported(e):
            d = conn.dialect
            return {"unsupported": f"{d.distribution} {d.version_string}: {e}" if d else str(e)}
        raise
    items = {}
    for ds in doc.get("data_streams", []):
        ts = ds.get("timestamp_field")
        items[ds["name"]] = {
            "indices": [i["index_name"] for i in ds.get("indices", [])],
            "timestamp_field": ts.get("name") if isinstance(ts, dict) else ts,
            "template": ds.get("template"),
            "hidden": bool(ds.get("hidden")),
            "system": bool(ds.get("system")),
        }
    return {"items": items}


def select_with_data_streams(indices: list[IndexInfo], streams: dict[str, Any], include: Iterable[str],
                             exclude: Iterable[str], include_hidden: bool) -> tuple[list[IndexInfo], dict[str, str]]:
    """Indices to dump plus {backing index: data stream}: a data stream chosen by its name
    brings its (hidden) backing indices along."""
    inc, exc = list(include) or ["*"], list(exclude)
    chosen = {i.name: i for i in select_indices(indices, inc, exc, include_hidden)}
    by_name = {i.name: i for i in indices}
    backing: dict[str, str] = {}
    for ds, spec in (streams.get("items") or {}).items():
        for name in spec.get("indices", []):
            backing[name] = ds
        if (spec.get("hidden") or spec.get("system")) and not include_hidden:
            continue
        if matches(ds, inc, exc):
            for name in spec.get("indices", []):
                if name in by_name and not matches(name, ["*"], exc):
                    continue
                if name in by_name:
                    chosen[name] = by_name[name]
    return sorted(chosen.values(), key=lambda i: i.name), backing


def indices_metadata(conn: Connection, infos: list[IndexInfo]) -> dict[str, IndexMetadata]:
    """{index: {settings (as stored), mappings, aliases (filters, routing, write index)}},
    in two requests per few thousand characters of names instead of two per index: a
    second backup of a thousand unchanged indices should not cost two thousand round trips."""
    mappings: dict[str, Any] = {}
    aliases: dict[str, Any] = {}
    what = "view_index_metadata on the indices"
    for path in index_list_paths(i.name for i in infos):
        # an index deleted since it was listed is left out here and fails on its own
        params = {"ignore_unavailable": "true", "expand_wildcards": "all"}
        mappings.update(conn.json("GET", f"{path}/_mapping", params=params, privilege=what))
        aliases.update(conn.json("GET", f"{path}/_alias", params=params, privilege=what))
    return {i.name: IndexMetadata(
        settings=i.settings,
        mappings=(mappings.get(i.name) or {}).get("mappings") or {},
        aliases=(aliases.get(i.name) or {}).get("aliases") or {},
    ) for i in infos}


def _unsupported(e: ClusterError) -> bool:
    text = str(e).lower()
    return e.endpoint_missing or (e.status in (400, 405, 501) and "unknown" in text) or (
        e.status == 404 and "index_not_found" not in text and "resource_not_found" not in text)


def _fetch(conn: Connection, path: str) -> Any:
    try:
        return conn.json("GET", path, privilege="read_ilm / manage_index_templates / read_pipeline "
                                                "(cluster privileges) or monitor")
    except ClusterError as e:
        # Elasticsearch 7 answers 404 with `{}` when there are no pipelines; ISM answers
        # 404 index_not_found before the first policy exists: both mean "none".
        text = str(e)
        if e.status == 404 and ("index_not_found" in text or "{}" in text or e.error_type == "") \
                and "no handler" not in text.lower():
            return {}
        raise


def cluster_metadata(conn: Connection, kinds: Iterable[str] = CLUSTER_KINDS) -> dict[str, Any]:
    """{kind: {"items": {name: body}}} or {kind: {"unsupported": reason}} per kind.

    A kind the server does not implement is recorded as unsupported, not raised."""
    d = conn.dialect
    assert d is not None
    out: dict[str, Any] = {}
    for kind in kinds:
        try:
            if kind == "component_templates":
                doc = _fetch(conn, "/_component_template")
                items = {t["name"]: t["component_template"] for t in doc.get("component_templates", [])}
            elif kind == "index_templates":
                doc = _fetch(conn, "/_index_template")
                items = {t["name"]: t["index_template"] for t in doc.get("index_templates", [])}
            elif kind == "legacy_templates":
                items = dict(_fetch(conn, "/_template"))
            elif kind == "ingest_pipelines":
                items = dict(_fetch(conn, "/_ingest/pipeline"))
            elif kind == "lifecycle_policies":
                doc = _fetch(conn, d.lifecycle_list_path)
                if d.is_opensearch:
                    items = {p["_id"]: {"policy": p["policy"]} for p in doc.get("policies", [])}
                else:
                    items = {name: {"policy": body["policy"]} for name, body in doc.items()}
                out[kind] = {"items": items, "flavor": d.lifecycle_kind}
                continue
            else:
                raise ValueError(f"unknown metadata kind {kind!r}; known: {', '.join(CLUSTER_KINDS)}")
            out[kind] = {"items": items}
        except ClusterError as e:
            if _unsupported(e):
                out[kind] = {"unsupported": f"{d.distribution} {d.version_string}: {e}"}
            else:
                raise
    return out
