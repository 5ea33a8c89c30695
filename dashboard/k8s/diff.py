"""Comparing a CR in the cluster with the one we want, as JSON merge patches (RFC 7386):
the one patch type that both a real API server and the emulator in the tests apply
the same way (mappings merge, `null` removes a key, lists are replaced whole)."""
from __future__ import annotations

from typing import Any

_MISSING = object()


def merge_patch(current: Any, desired: Any) -> Any:
    """The merge patch that turns `current` into `desired` (`_MISSING`-free: only call
    it where they differ)."""
    if not isinstance(current, dict) or not isinstance(desired, dict):
        return desired
    patch: dict[str, Any] = {}
    for key in current.keys() - desired.keys():
        patch[key] = None
    for key, value in desired.items():
        old = current.get(key, _MISSING)
        if old == value:
            continue
        if value is None:
            # A null in a merge patch deletes; keep "absent" and "null" the same for us.
            if old is not _MISSING:
                patch[key] = None
            continue
        patch[key] = value if old is _MISSING else merge_patch(old, value)
    return patch


def apply_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return patch
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = apply_merge_patch(result.get(key), value)
    return result


def metadata_patch(observed: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any]:
    """Our labels and annotations only: others (kubectl, GitOps tools) may add theirs."""
    patch: dict[str, Any] = {}
    for field in ("labels", "annotations"):
        have = (observed.get("metadata") or {}).get(field) or {}
        want = desired["metadata"].get(field) or {}
        changed = {k: v for k, v in want.items() if have.get(k) != v}
        if changed:
            patch[field] = changed
    return patch


def spec_patch(observed: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The main-resource patch (metadata and spec), or None when nothing differs."""
    body: dict[str, Any] = {}
    meta = metadata_patch(observed, desired)
    if meta:
        body["metadata"] = meta
    if (observed.get("spec") or {}) != desired["spec"]:
        body["spec"] = merge_patch(observed.get("spec") or {}, desired["spec"])
    return body or None


def status_patch(observed: dict[str, Any], desired: dict[str, Any]) -> dict[str, Any] | None:
    """The status-subresource patch, or None when the status is already ours."""
    have, want = observed.get("status") or {}, desired.get("status") or {}
    if have == want:
        return None
    return {"status": merge_patch(have, want)}
