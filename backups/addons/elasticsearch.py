"""The `elasticsearch` addon: its tasks and their parameters, as KubeStash's Addon
and Function resources describe them, in code rather than rows."""
from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError

from backups.validators import split_list, validate_index_patterns

ADDON_NAME = "elasticsearch-addon"
BACKUP_TASK = "logical-backup"
RESTORE_TASK = "logical-backup-restore"

METADATA_KINDS = (
    "settings", "mappings", "aliases",
    "index_templates", "component_templates", "legacy_templates", "ingest_pipelines", "lifecycle_policies",
)

# name → (default, type, help)
BACKUP_PARAMS: dict[str, tuple[Any, type, str]] = {
    "indices": ("*", str, "Index patterns to back up, comma separated."),
    "exclude": ("", str, "Index patterns to leave out, comma separated."),
    "include_hidden": (False, bool, "Also back up hidden and system indices (names starting with '.')."),
    "metadata": (",".join(METADATA_KINDS), str, "Metadata kinds to back up, comma separated."),
    "slices": (4, int, "Parallel slices per index (bounded by its shard count)."),
    "parallel_indices": (4, int, "Small indices (whose documents fit in one page) read at once; a larger "
                                 "index is read alone with all its slices, so memory stays flat."),
    "batch_size": (5000, int, "Documents per page read, at most."),
    "page_bytes": (8 << 20, int, "Bytes per page read, roughly: an index of large documents is read in "
                                 "smaller pages, so memory stays flat."),
    "max_docs_per_second": (0, int, "Throttle reads; 0 for no limit."),
    "resumable_bytes": (16 << 30, int, "Elasticsearch: an index of at least this many bytes is read with a point in "
                                       "time, so a backup killed halfway resumes mid-index; a smaller one by sliced "
                                       "scroll, half the node's CPU (killed, it is read again). 0: every index "
                                       "resumable."),
    "skip_unchanged": (True, bool, "Reference an unchanged index from the previous snapshot instead of reading it."),
    "incremental": (True, bool, "Read a changed index as a delta of the previous snapshot (the documents whose "
                                "_seq_no moved, and the deletions) when that is safe; else in full."),
    "chain_length": (7, int, "Read an index in full once its snapshot stream composes this many layers "
                             "(a full read every N snapshots)."),
}
RESTORE_PARAMS: dict[str, tuple[Any, type, str]] = {
    "indices": ("*", str, "Index patterns to restore, comma separated."),
    "exclude": ("", str, "Index patterns to leave out, comma separated."),
    "rename_pattern": ("", str, "Regular expression applied to index, alias and template names."),
    "rename_replacement": ("", str, "Replacement for the rename pattern (\\1 for groups)."),
    "conflict": ("fail", str, "What to do when a target index exists: fail, skip, overwrite or merge."),
    "on_index_failure": ("keep", str, "An index this restore created that fails partway (a corrupt chunk, the "
                                      "cluster gone): keep it (its refresh interval and replicas put back) or "
                                      "delete it. An existing index merged into is always kept."),
    "metadata": (",".join(METADATA_KINDS), str, "Metadata kinds to restore, comma separated."),
    "parallelism": (2, int, "Parallel bulk senders."),
    "bulk_bytes": (10 * 1024 * 1024, int, "Upper bound of one bulk request in bytes."),
}


def with_defaults(spec: dict[str, tuple[Any, type, str]], params: dict[str, Any] | None) -> dict[str, Any]:
    out = {name: default for name, (default, _, _) in spec.items()}
    out.update(params or {})
    return out


def validate_params(spec: dict[str, tuple[Any, type, str]], params: dict[str, Any] | None, task: str) -> None:
    if params is None:
        return
    if not isinstance(params, dict):
        raise ValidationError(f"The {task} parameters must be a mapping of name to value.")
    errors: list[str] = []
    for name, value in params.items():
        if name not in spec:
            known = ", ".join(spec)
            errors.append(f"'{name}' is not a parameter of {task}: use one of {known}.")
            continue
        _, kind, _ = spec[name]
        if kind is bool and not isinstance(value, bool):
            errors.append(f"'{name}' must be true or false, not {value!r}.")
        elif kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            errors.append(f"'{name}' must be a whole number of 0 or more, not {value!r}.")
        elif kind is str and not isinstance(value, str):
            errors.append(f"'{name}' must be text, not {value!r}.")
    if errors:
        raise ValidationError(errors)
    for key in ("indices", "exclude"):
        if params.get(key):
            try:
                validate_index_patterns(params[key])
            except ValidationError as e:
                errors.extend(f"{key}: {m}" for m in e.messages)
    if params.get("metadata"):
        unknown = [k for k in split_list(params["metadata"]) if k not in METADATA_KINDS]
        if unknown:
            errors.append(f"metadata: {', '.join(unknown)} unknown; choose from {', '.join(METADATA_KINDS)}.")
    for key in ("slices", "parallel_indices", "batch_size", "page_bytes", "parallelism", "bulk_bytes"):
        if key in params and params[key] == 0:
            errors.append(f"{key} must be at least 1.")
    if errors:
        raise ValidationError(errors)


def validate_backup_params(params: dict[str, Any] | None) -> None:
    validate_params(BACKUP_PARAMS, params, BACKUP_TASK)


def validate_restore_params(params: dict[str, Any] | None) -> None:
    """Names and types only: the restore's own rules (conflict policies, rename) are
    restores.rules', which RestoreSession.clean() applies."""
    validate_params(RESTORE_PARAMS, params, RESTORE_TASK)


HOOK_KINDS = ("http", "elasticsearch")


def validate_hooks(hooks: dict[str, Any] | None, allowed: tuple[str, ...]) -> None:
    """{"preBackup": [{"name", "kind": "http"|"elasticsearch", "method", "url"|"path",
    "body", "headersSecret", "expectedStatus"}], "postBackup": [...]}"""
    if not hooks:
        return
    if not isinstance(hooks, dict):
        raise ValidationError("Hooks must be a mapping like {preBackup: [...], postBackup: [...]}.")
    errors: list[str] = []
    for when, items in hooks.items():
        if when not in allowed:
            errors.append(f"'{when}' is not a hook point here: use {', '.join(allowed)}.")
            continue
        if not isinstance(items, list):
            errors.append(f"{when} must be a list of hooks.")
            continue
        for i, hook in enumerate(items):
            where = f"{when}[{i}]"
            if not isinstance(hook, dict):
                errors.append(f"{where} must be a mapping.")
                continue
            unknown = set(hook) - {"name", "kind", "method", "url", "path", "body", "headersSecret", "expectedStatus", "timeout"}
            if unknown:
                errors.append(f"{where}: unknown field(s) {', '.join(sorted(unknown))}.")
            kind = hook.get("kind")
            if kind not in HOOK_KINDS:
                errors.append(f"{where}.kind must be http or elasticsearch.")
            elif kind == "http" and not str(hook.get("url", "")).startswith(("http://", "https://")):
                errors.append(f"{where}.url must be a full http:// or https:// URL.")
            elif kind == "elasticsearch" and not hook.get("path"):
                errors.append(f"{where}.path is required, e.g. _flush.")
            method = str(hook.get("method", "POST")).upper()
            if method not in ("GET", "POST", "PUT", "DELETE", "HEAD", "PATCH"):
                errors.append(f"{where}.method '{method}' is not an HTTP method.")
            status = hook.get("expectedStatus", 200)
            if not isinstance(status, int) or not 100 <= status <= 599:
                errors.append(f"{where}.expectedStatus must be an HTTP status code.")
    if errors:
        raise ValidationError(errors)


def validate_backup_hooks(hooks: dict[str, Any] | None) -> None:
    validate_hooks(hooks, ("preBackup", "postBackup"))


def validate_restore_hooks(hooks: dict[str, Any] | None) -> None:
    validate_hooks(hooks, ("preRestore", "postRestore"))
