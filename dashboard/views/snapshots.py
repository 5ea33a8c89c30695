from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import render
from django.views.decorators.vary import vary_on_headers

from backups.models import Snapshot
from dashboard.views.access import DashboardRequest, get_for_user, team_qs

log = logging.getLogger(__name__)

STREAM_PREFIX = "indices/"
PREVIEW_DOCS = 20       # documents a preview shows by default…
PREVIEW_MAX = 100       # …and at most
PREVIEW_SOURCE = 4000   # characters of one document's source shown
METADATA_LABELS = {
    "index_templates": "Index templates", "component_templates": "Component templates",
    "legacy_templates": "Legacy templates", "ingest_pipelines": "Ingest pipelines",
    "lifecycle_policies": "Lifecycle policies",
}


def _get_snapshot_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> Snapshot:
    return get_for_user(request, Snapshot.objects.select_related("repository__storage", "backup_session__configuration"),
                        uuid, write=write)


def _open(snapshot: Snapshot) -> tuple[Any, Any, str]:
    """(engine repository, manifest, "") or (None, None, the error to show). The manifest is
    small (one GET); mappings, aliases and cluster metadata live only there."""
    if not snapshot.snapshot_id:
        return None, None, ""
    try:
        from storage import flows

        repo = flows.open_repository(snapshot.repository)
        return repo, repo.manifest(snapshot.snapshot_id), ""
    except Exception as e:  # any backend/crypto failure is shown, the rest of the page still works
        return None, None, f"Could not read the manifest from the repository: {e}"


def _manifest_indices(snapshot: Snapshot, manifest: Any = None) -> tuple[dict[str, dict[str, Any]], str]:
    error = ""
    if manifest is None:
        _, manifest, error = _open(snapshot)
    if manifest is None:
        return {}, error
    out = {}
    for name, entry in manifest.streams.items():
        if name.startswith(STREAM_PREFIX):
            out[name[len(STREAM_PREFIX):]] = {**(entry.meta or {}),
                                              "size": ((entry.meta or {}).get("composed") or {}).get("size", entry.size)}
    return out, ""


def snapshot_indices(snapshot: Snapshot, manifest: Any = None) -> tuple[list[dict[str, Any]], str]:
    """Per index: what the dump recorded and what the manifest holds (the page and the API),
    and why the manifest could not be read ("" when it could)."""
    dump = (snapshot.components or {}).get("dump") or {}
    meta, error = _manifest_indices(snapshot, manifest)
    indices = []
    for name in sorted(set(dump) | set(meta)):
        d, m = dump.get(name) or {}, meta.get(name) or {}
        indices.append({"name": name, "docs": d.get("docs", m.get("docs")), "bytes": d.get("bytes", m.get("size")),
                        "duration": d.get("duration"), "skipped_unchanged": d.get("skipped_unchanged"), "error": d.get("error"),
                        "mode": d.get("mode"), "docs_read": d.get("docs_read"), "docs_deleted": d.get("docs_deleted"),
                        "reason": d.get("reason"),
                        "mappings": m.get("mappings"), "aliases": m.get("aliases") or {}, "settings": m.get("settings")})
    return indices, error


@login_required
def snapshot_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    snapshot = _get_snapshot_for_user(request, uuid)
    _, manifest, error = _open(snapshot)
    indices, _ = snapshot_indices(snapshot, manifest)
    others = (Snapshot.objects.filter(repository=snapshot.repository, phase=Snapshot.Phase.SUCCEEDED)
              .exclude(pk=snapshot.pk).exclude(snapshot_id="").order_by("-created")[:50])
    return render(request, "snapshots/detail.html", {
        "title": snapshot.name, "snapshot": snapshot, "indices": indices, "manifest_error": error,
        "cluster_metadata": _cluster_metadata(manifest), "others": others,
        "data_streams": sorted(((((manifest.meta or {}).get("cluster_metadata") or {}).get("data_streams") or {})
                                .get("items") or {}).items()) if manifest else [],
    })


def _cluster_metadata(manifest: Any) -> list[dict[str, Any]]:
    """Per kind: its items (name → body) or why the cluster had none of that kind."""
    if manifest is None:
        return []
    captured = (manifest.meta or {}).get("cluster_metadata") or {}
    out: list[dict[str, Any]] = []
    for kind, label in METADATA_LABELS.items():
        entry = captured.get(kind)
        if entry is None:
            out.append({"kind": kind, "label": label, "items": [], "note": "not backed up (left out of the metadata kinds)"})
        elif "unsupported" in entry:
            out.append({"kind": kind, "label": label, "items": [], "note": f"not supported by the cluster ({entry['unsupported']})"})
        else:
            out.append({"kind": kind, "label": label, "items": sorted(dict(entry.get("items") or {}).items()),
                        "note": entry.get("flavor", "")})
    return out


def _index_stream(request: DashboardRequest, uuid: str, index: str) -> tuple[Snapshot, Any, Any, str]:
    """The snapshot (team-scoped: another team's is a 404), its engine repository, manifest
    and the stream name of `index` (a 404 when the snapshot has no such index)."""
    snapshot = _get_snapshot_for_user(request, uuid)
    repo, manifest, error = _open(snapshot)
    if manifest is None:
        raise Http404(error or "This snapshot has nothing in the repository.")
    name = STREAM_PREFIX + index
    if name not in manifest.streams:
        raise Http404(f"Snapshot {snapshot.snapshot_id[:8]} has no index {index}.")
    return snapshot, repo, manifest, name


def _shown_source(source: bytes) -> str:
    import orjson

    try:
        text = orjson.dumps(orjson.loads(source), option=orjson.OPT_INDENT_2).decode()
    except orjson.JSONDecodeError:  # e.g. an integer beyond 64 bits: the bytes as stored
        text = source.decode("utf-8", "replace")
    return text if len(text) <= PREVIEW_SOURCE else text[:PREVIEW_SOURCE] + f"\n… ({len(text):,} characters in all)"


@login_required
@vary_on_headers("HX-Request")
def snapshot_index_preview(request: DashboardRequest, uuid: str, index: str) -> HttpResponse:
    """The first documents of one index, read from the repository: only the first
    chunks are fetched (one at a time), never the whole stream."""
    from backups.elastic.export import first_documents

    snapshot, repo, manifest, name = _index_stream(request, uuid, index)
    try:
        n = max(1, min(PREVIEW_MAX, int(request.GET.get("n", PREVIEW_DOCS))))
    except ValueError:
        n = PREVIEW_DOCS
    error = ""
    try:
        docs = first_documents(repo.read_stream(manifest, name, workers=1, window=1), n)
    except Exception as e:  # a missing or corrupt chunk: said in the preview, not a 500
        docs, error = [], f"Could not read {index} from the repository: {e}"
    entry = manifest.streams[name]
    ctx = {"snapshot": snapshot, "index": index, "error": error, "total": (entry.meta or {}).get("docs"),
           "docs": [{"id": d.id, "routing": d.routing, "source": _shown_source(d.source)} for d in docs]}
    template = "snapshots/preview.html"
    if not request.htmx:
        ctx["title"] = f"{index} in snapshot {snapshot.snapshot_id[:8]}"
        template = "snapshots/preview_page.html"
    return render(request, template, ctx)


@login_required
def snapshot_index_download(request: DashboardRequest, uuid: str, index: str) -> StreamingHttpResponse:
    """One index as `_bulk` NDJSON, streamed from the repository as it is read (memory
    holds a chunk or two, whatever the index's size)."""
    from backups.elastic.export import bulk_ndjson

    snapshot, repo, manifest, name = _index_stream(request, uuid, index)

    def body() -> Iterator[bytes]:
        try:
            yield from bulk_ndjson(repo.read_stream(manifest, name, workers=2, window=2))
        except Exception:
            # the status is sent already: the download ends short; the log says why
            log.exception("download of %s from snapshot %s failed", index, snapshot.snapshot_id[:8])
            raise

    response = StreamingHttpResponse(body(), content_type="application/x-ndjson")
    filename = f"{index}-{snapshot.snapshot_id[:8]}.ndjson".replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def compare_manifests(old: Any, new: Any) -> list[dict[str, Any]]:
    """Per index of either snapshot: added, removed, changed (its data differs) or
    unchanged, with documents and bytes in each."""
    rows = []
    names = {n for n in list(old.streams) + list(new.streams) if n.startswith(STREAM_PREFIX)}
    for name in sorted(names):
        a, b = old.streams.get(name), new.streams.get(name)
        state = "added" if a is None else "removed" if b is None else \
            "unchanged" if _identity(old, a) == _identity(new, b) else "changed"
        docs_a = int((a.meta or {}).get("docs") or 0) if a else None
        docs_b = int((b.meta or {}).get("docs") or 0) if b else None
        size_a, size_b = (_size(a) if a else None), (_size(b) if b else None)
        rows.append({"index": name[len(STREAM_PREFIX):], "state": state, "docs_old": docs_a, "docs_new": docs_b,
                     "bytes_old": size_a, "bytes_new": size_b,
                     "docs_delta": (docs_b or 0) - (docs_a or 0), "bytes_delta": (size_b or 0) - (size_a or 0)})
    return rows


def _identity(manifest: Any, entry: Any) -> tuple[str, ...]:
    """What an index's data is: its stream's sha256, or an incremental's layers' and dead lines'."""
    composed = (entry.meta or {}).get("composed")
    if not composed:
        return (entry.sha256,)
    parts = [*composed["layers"], *sorted((composed.get("dead") or {}).values())]
    return tuple(manifest.streams[n].sha256 if n in manifest.streams else n for n in parts)


def _size(entry: Any) -> int:
    return int(((entry.meta or {}).get("composed") or {}).get("size", entry.size))


@login_required
def snapshot_compare(request: DashboardRequest, uuid: str) -> HttpResponse:
    """This snapshot against another of the same repository (`?with=<uuid>`), older first."""
    snapshot = _get_snapshot_for_user(request, uuid)
    other_uuid = request.GET.get("with", "")
    other = team_qs(request, Snapshot).filter(repository=snapshot.repository).exclude(snapshot_id="")
    try:
        other_snapshot = other.get(uuid=other_uuid)
    except (Snapshot.DoesNotExist, ValueError, ValidationError) as e:
        raise Http404("Choose another snapshot of the same repository in this team.") from e
    old, new = sorted([snapshot, other_snapshot], key=lambda s: (s.snapshot_time or s.created))
    _, m_old, error = _open(old)
    _, m_new, error2 = _open(new)
    rows = compare_manifests(m_old, m_new) if m_old is not None and m_new is not None else []
    summary = {state: sum(1 for r in rows if r["state"] == state) for state in ("added", "removed", "changed", "unchanged")}
    return render(request, "snapshots/compare.html", {
        "title": f"Compare {old.snapshot_id[:8]} and {new.snapshot_id[:8]}", "old": old, "new": new, "rows": rows,
        "summary": summary, "error": error or error2, "snapshot": snapshot,
        "docs_delta": sum(r["docs_delta"] for r in rows), "bytes_delta": sum(r["bytes_delta"] for r in rows)})
