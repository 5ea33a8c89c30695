"""How long a restore would take, from what was measured before: the repository's read
speed (its past restores, else its past backups) and the target's indexing speed (its
`_stats` counters, else past restores into it). Each speed says where it comes from."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.template.defaultfilters import filesizeformat

from backups.models import Cluster, Snapshot
from restores.models import RestoreSession
from storage.models import Repository

SAMPLES = 10   # the most recent runs that make a speed


def _num(value: float) -> str:
    return f"{value:,.0f}".replace(",", "\u202f")   # as the pages write numbers


@dataclass
class Speed:
    per_second: float   # bytes/s (reading) or documents/s (indexing)
    source: str         # where it comes from, said on the page


def _load_totals(restores: Any) -> tuple[int, int, float, int]:
    """(bytes, docs, seconds, restores) over the per-index results of finished restores."""
    nbytes = docs = used = 0
    seconds = 0.0
    for r in restores:
        entries = [e for e in ((r.components or {}).get("load") or {}).values() if isinstance(e, dict) and e.get("duration")]
        if not entries:
            continue
        used += 1
        for e in entries:
            nbytes += int(e.get("bytes") or 0)
            docs += int(e.get("docs") or 0)
            seconds += float(e.get("duration") or 0)
    return nbytes, docs, seconds, used


def _finished(qs: Any) -> Any:
    return qs.filter(phase=RestoreSession.Phase.SUCCEEDED).order_by("-finished")[:SAMPLES]


def read_speed(repo: Repository) -> Speed | None:
    nbytes, _, seconds, used = _load_totals(_finished(RestoreSession.objects.filter(repository=repo)))
    if nbytes and seconds > 0:
        return Speed(nbytes / seconds, f"measured over the last {used} restore(s) from {repo.name}")
    # no restore yet: its backups' streams (read from the cluster and written to it): the same order of magnitude
    nbytes, seconds, used = 0, 0.0, 0
    for snap in Snapshot.objects.filter(repository=repo, phase=Snapshot.Phase.SUCCEEDED).order_by("-finished")[:SAMPLES]:
        read = [e for e in ((snap.components or {}).get("dump") or {}).values()
                if isinstance(e, dict) and not e.get("skipped_unchanged") and e.get("duration")]
        if read:
            used += 1
            nbytes += sum(int(e.get("bytes") or 0) for e in read)
            seconds += sum(float(e.get("duration") or 0) for e in read)
    if nbytes and seconds > 0:
        return Speed(nbytes / seconds, f"no restore from {repo.name} yet: the speed of its last {used} backup(s)")
    return None


def index_speed(cluster: Cluster, counters: Any) -> Speed | None:
    """`counters`: restores.dryrun.indexing_counters() of the target, or None."""
    if counters is not None:
        return Speed(counters.docs / counters.seconds,
                     f"from {cluster.name}'s indexing counters (_stats: {_num(counters.docs)} documents in "
                     f"{_num(counters.seconds)} s of indexing)")
    _, docs, seconds, used = _load_totals(_finished(RestoreSession.objects.filter(target=cluster)))
    if docs and seconds > 0:
        return Speed(docs / seconds, f"measured over the last {used} restore(s) into {cluster.name}")
    return None


@dataclass
class Estimate:
    seconds: float | None            # None: nothing to estimate from
    parts: list[tuple[float, str]]   # (seconds, "reading 3 MB at 10 MB/s (where from)") per measured speed


def estimate(total_bytes: int, total_docs: int, read: Speed | None, index: Speed | None) -> Estimate:
    """Reading and indexing overlap (the load streams), so the slower of the two bounds
    the time."""
    parts = []
    if read:
        parts.append((total_bytes / read.per_second,
                      f"reading {filesizeformat(total_bytes)} at {filesizeformat(read.per_second)}/s, {read.source}"))
    if index:
        parts.append((total_docs / index.per_second,
                      f"indexing {_num(total_docs)} documents at {_num(index.per_second)}/s, {index.source}"))
    return Estimate(max(p[0] for p in parts) if parts else None, [(s, t.replace("\xa0", " ")) for s, t in parts])
