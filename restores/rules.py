"""The rules of a restore, in one place (no Django import): the conflict policies, the
rename check, which of a snapshot's indices a restore chooses and where each one goes,
and the collisions a rename can cause. The wizard's preview, the YAML, `manage.py
restore`, `manage.py dr_restore`, the job and the load all ask this module, so what the
review shows is what the load does."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from backups.elastic.metadata import matches
from restores.rename import Renamer, rename_errors

__all__ = [
    "CONFLICT_HELP", "CONFLICT_POLICIES", "ON_INDEX_FAILURE", "Choice", "IndexFacts", "Renamer",
    "choose", "collision", "facts_from_dump", "param_errors", "patterns", "rename_errors",
]

CONFLICT_POLICIES = ("fail", "skip", "overwrite", "merge")
CONFLICT_HELP = {
    "fail": "Stop before touching an index that already exists in the target.",
    "skip": "Leave existing indices alone and restore the others.",
    "overwrite": "Delete an existing index and restore it from the snapshot (its current documents are lost).",
    "merge": "Index the snapshot's documents into the existing index (same ids are replaced).",
}
# An index this restore created that fails partway: keep it (settings put back) or delete it.
ON_INDEX_FAILURE = ("keep", "delete")


def patterns(value: str | Iterable[str] | None) -> list[str]:
    """Index patterns as every entry point takes them: 'a, b' (text, comma or newline
    separated) or ['a', 'b,c'] (a command line's arguments). An empty include means
    every index (choose() reads it so), an empty exclude none."""
    items = [value] if isinstance(value, str) else list(value or [])
    return [p.strip() for item in items for p in re.split(r"[,\n]", item) if p.strip()]


def param_errors(params: Mapping[str, object]) -> list[str]:
    """What is wrong with a restore task's conflict, on_index_failure and rename
    parameters, each message prefixed with the parameter it is about."""
    errors = []
    conflict = params.get("conflict", "fail")
    if conflict not in CONFLICT_POLICIES:
        errors.append(f"conflict: '{conflict}' unknown; use one of {', '.join(CONFLICT_POLICIES)}.")
    failure = params.get("on_index_failure", "keep")
    if failure not in ON_INDEX_FAILURE:
        errors.append(f"on_index_failure: '{failure}' unknown; use keep or delete.")
    pattern, replacement = params.get("rename_pattern") or "", params.get("rename_replacement") or ""
    if isinstance(pattern, str) and isinstance(replacement, str):
        errors += [f"{key}: {msg}" for key, msg in rename_errors(pattern, replacement).items()]
    return errors


@dataclass(frozen=True)
class IndexFacts:
    """What a restore needs to know of one index of a snapshot (from its manifest, or
    from the Snapshot row's components)."""
    docs: int = 0
    bytes: int | None = None
    data_stream: str = ""        # the data stream the index backs, if any


@dataclass(frozen=True)
class Choice:
    """One index a restore loads: `target` is the renamed index name (the key of the
    result), `data_stream` the renamed data stream its documents are written through."""
    source: str
    target: str
    data_stream: str
    docs: int
    bytes: int | None
    source_stream: str = ""      # the data stream in the snapshot, before the rename

    @property
    def writes_to(self) -> str:
        return self.data_stream or self.target


def facts_from_dump(dump: Mapping[str, object]) -> dict[str, IndexFacts]:
    """The indices a snapshot holds a stream for, from its row's per-index results
    (Snapshot.components["dump"]): a closed index or one that failed is in the results but
    not in the repository, so no restore loads it."""
    out = {}
    for name, e in dump.items():
        if isinstance(e, dict) and not e.get("error") and not e.get("closed"):
            out[name] = IndexFacts(int(e.get("docs") or 0), e.get("bytes"), str(e.get("data_stream") or ""))
    return out


def choose(indices: Mapping[str, IndexFacts], include: Iterable[str], exclude: Iterable[str],
           rename: Renamer) -> list[Choice]:
    """The indices a restore loads, sorted by source name: chosen by name, or by the name
    of the data stream an index backs (`logs-*` restores the backing indices of logs-app)."""
    inc, exc = list(include) or ["*"], list(exclude)
    out = []
    for source in sorted(indices):
        facts = indices[source]
        if matches(source, inc, exc) or (facts.data_stream and matches(facts.data_stream, inc, exc)):
            ds = rename(facts.data_stream) if facts.data_stream else ""
            out.append(Choice(source, rename(source), ds, facts.docs, facts.bytes, facts.data_stream))
    return out


def collision(choices: Iterable[Choice]) -> str:
    """The first name the rename gives to two different things, as a message ("" when
    there is none). Backing indices of one data stream share their stream; anything else
    written to the same name (two indices, an index and a data stream, two data streams)
    would mix documents that were apart in the snapshot."""
    by_name: dict[str, Choice] = {}
    by_target: dict[str, Choice] = {}
    for c in choices:
        for seen, name in ((by_target, c.target), (by_name, c.writes_to)):
            other = seen.get(name)
            if other is None:
                seen[name] = c
                continue
            if seen is by_name and c.source_stream and c.source_stream == other.source_stream:
                continue
            return (f"the rename maps both {_what(other)} and {_what(c)} to {name}: "
                    "change it so names stay distinct")
    return ""


def _what(c: Choice) -> str:
    return f"{c.source} (data stream {c.source_stream})" if c.source_stream else c.source
