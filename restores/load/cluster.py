"""Restore cluster metadata: component templates → index templates → legacy templates →
ingest pipelines → lifecycle policies, as chosen, renamed like the indices."""
from __future__ import annotations

from typing import Any

from backups.elastic.connection import ClusterError, Connection
from backups.elastic.metadata import CLUSTER_KINDS
from restores.load.params import LoadParams
from restores.rename import Renamer


def _managed(name: str, body: dict[str, Any]) -> bool:
    meta = body.get("_meta") or {}
    return name.startswith(".") or bool(isinstance(meta, dict) and meta.get("managed"))


def load_cluster_metadata(conn: Connection, cluster_meta: dict[str, Any], params: LoadParams,
                          rename: Renamer) -> dict[str, dict[str, str]]:
    """Restore the chosen kinds; {kind: {name: "restored" | "skipped: …" | "error: …"}}."""
    d = conn.dialect
    assert d is not None
    out: dict[str, dict[str, str]] = {}
    order = [k for k in CLUSTER_KINDS if k in params.metadata_kinds]
    for kind in order:
        src = cluster_meta.get(kind) or {}
        res: dict[str, str] = {}
        out[kind] = res
        if "unsupported" in src:
            res["*"] = f"skipped: unsupported by the source cluster ({src['unsupported'][:200]})"
            continue
        items = src.get("items") or {}
        if kind == "lifecycle_policies" and items and src.get("flavor") != d.lifecycle_kind:
            res["*"] = (f"skipped: {src.get('flavor')} cannot be restored into {d.distribution} "
                        f"(which uses {d.lifecycle_kind}); recreate them by hand")
            continue
        for name, body in items.items():
            if not params.include_managed_templates and _managed(name, body if isinstance(body, dict) else {}):
                res[name] = "skipped: managed by the cluster"
                continue
            if kind == "component_templates":
                method, path, b = "PUT", f"/_component_template/{name}", rename.template(body)
            elif kind == "index_templates":
                method, path, b = "PUT", f"/_index_template/{name}", rename.template(body)
            elif kind == "legacy_templates":
                method, path, b = "PUT", f"/_template/{name}", rename.template(body)
            elif kind == "ingest_pipelines":
                method, path, b = "PUT", f"/_ingest/pipeline/{name}", body
            else:
                b = rename.policy(body)
                pol = dict(b.get("policy") or {})
                for k in ("policy_id", "last_updated_time", "schema_version"):
                    pol.pop(k, None)
                method, path, b = "PUT", d.lifecycle_put_path(name), {"policy": pol}
            try:
                conn.request(method, path, b, ok=(200, 201),
                             privilege="manage_index_templates / manage_pipeline / manage_ilm (cluster)")
                res[name] = "restored"
            except ClusterError as e:
                if e.endpoint_missing or "no processor type exists" in str(e).lower():
                    # a processor from a module or plugin the target lacks is the target's limit too
                    res[name] = f"skipped: unsupported by the target cluster ({e})"
                elif kind == "lifecycle_policies" and e.status == 409:
                    res[name] = "skipped: already exists in the target cluster"
                else:
                    res[name] = f"error: {e}"
    return out


