from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render

from backups.models import Snapshot
from dashboard.views.access import DashboardRequest, get_for_user

STREAM_PREFIX = "indices/"


def _get_snapshot_for_user(request: DashboardRequest, uuid: str, write: bool = False) -> Snapshot:
    return get_for_user(request, Snapshot.objects.select_related("repository__storage", "backup_session__configuration"),
                        uuid, write=write)


def _manifest_indices(snapshot: Snapshot) -> tuple[dict[str, dict[str, Any]], str]:
    """Mappings and aliases live only in the repository's manifest: read it (small, one GET)."""
    if not snapshot.snapshot_id:
        return {}, ""
    try:
        from storage import flows

        repo = flows.open_repository(snapshot.repository)
        manifest = repo.manifest(snapshot.snapshot_id)
    except Exception as e:  # any backend/crypto failure is shown, the rest of the page still works
        return {}, f"Could not read the manifest from the repository: {e}"
    out = {}
    for name, entry in manifest.streams.items():
        if name.startswith(STREAM_PREFIX):
            out[name[len(STREAM_PREFIX):]] = {**(entry.meta or {}), "size": entry.size}
    return out, ""


def snapshot_indices(snapshot: Snapshot) -> tuple[list[dict[str, Any]], str]:
    """Per index: what the dump recorded and what the manifest holds (the page and the API),
    and why the manifest could not be read ("" when it could)."""
    dump = (snapshot.components or {}).get("dump") or {}
    meta, error = _manifest_indices(snapshot)
    indices = []
    for name in sorted(set(dump) | set(meta)):
        d, m = dump.get(name) or {}, meta.get(name) or {}
        indices.append({"name": name, "docs": d.get("docs", m.get("docs")), "bytes": d.get("bytes", m.get("size")),
                        "duration": d.get("duration"), "skipped_unchanged": d.get("skipped_unchanged"), "error": d.get("error"),
                        "mappings": m.get("mappings"), "aliases": m.get("aliases") or {}, "settings": m.get("settings")})
    return indices, error


@login_required
def snapshot_detail(request: DashboardRequest, uuid: str) -> HttpResponse:
    snapshot = _get_snapshot_for_user(request, uuid)
    indices, error = snapshot_indices(snapshot)
    return render(request, "snapshots/detail.html", {"title": snapshot.name, "snapshot": snapshot, "indices": indices,
                                                     "manifest_error": error})
