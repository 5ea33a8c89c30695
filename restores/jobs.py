"""The restore job: claim the RestoreSession, run pre-restore hooks, stream the chosen
indices from the repository into the target, write per-index components, post hooks."""
from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from typing import Any

import orjson
from django.utils import timezone

from backups import hooks
from backups.addons.elasticsearch import METADATA_KINDS
from backups.jobs import JobFailed, connect
from backups.progress import Heartbeat
from backups.validators import split_list
from restores.models import RestoreSession
from storage import flows as storage_flows

log = logging.getLogger(__name__)


def load_params(params: dict[str, Any]) -> Any:
    from backups.elastic.metadata import CLUSTER_KINDS
    from restores.load import LoadParams

    kinds = set(split_list(params.get("metadata"))) & set(METADATA_KINDS)
    return LoadParams(
        include=split_list(params["indices"]) or ["*"],
        exclude=split_list(params["exclude"]),
        rename_pattern=params["rename_pattern"],
        rename_replacement=params["rename_replacement"],
        conflict=params["conflict"],
        on_index_failure=params["on_index_failure"],
        metadata_kinds=tuple(k for k in CLUSTER_KINDS if k in kinds),
        restore_aliases="aliases" in kinds,
        workers=int(params["parallelism"]),
        bulk_bytes=int(params["bulk_bytes"]),
    )


def resolve_snapshot(engine: Any, ref: str) -> Any:
    """'latest' means the newest successful snapshot; a failed one is restored only by id."""
    if ref == "latest":
        manifest = engine.latest(where=lambda m: m.status == "Succeeded")
        if manifest is None:
            raise JobFailed(f"repository {engine.name} has no successful snapshot to restore")
        return manifest
    return engine.manifest(ref)


def plan(manifest: Any, params: Any) -> list[tuple[str, str, int]]:
    """(source, target, documents) of each index the restore chose, as restores.load
    chooses them."""
    from backups.elastic.dump import STREAM_PREFIX
    from restores.load import chosen_sources, rename_of

    rename = rename_of(params)
    return [(source, rename(source), int((manifest.streams[STREAM_PREFIX + source].meta or {}).get("docs") or 0))
            for source in chosen_sources(manifest, params)]


class _AckCounting:
    """The target connection, counting the documents each `_bulk` answer acknowledges as
    the load's workers receive them: the load's own events come only when a batch is
    queued and when an index is done, so a small index would count 0 until its end."""

    def __init__(self, conn: Any, on_ack: Callable[[int], None]) -> None:
        self._conn, self._on_ack = conn, on_ack

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)

    def request(self, method: str, path: str, *args: Any, **kw: Any) -> Any:
        r = self._conn.request(method, path, *args, **kw)
        if method == "POST" and path.endswith("/_bulk"):
            self._on_ack(_acknowledged(kw.get("raw") or b"", r.body))
        return r


def _acknowledged(sent: bytes, answer: bytes) -> int:
    # an answer without errors acknowledges every item (two lines each); one with errors
    # is read item by item. The index's done event then corrects the count exactly.
    doc = orjson.loads(answer or b"{}")
    if not doc.get("errors"):
        return sent.count(b"\n") // 2
    results: list[dict[str, Any]] = [next(iter(it.values()), {}) for it in doc.get("items") or []]
    return sum(1 for res in results if int(res.get("status", 500)) < 300)


class RestoreProgress:
    """What the restore page shows while it runs: the run's documents out of the chosen
    indices' (from the manifest), and one row per index from the moment it starts."""

    def __init__(self, beat: Heartbeat, chosen: list[tuple[str, str, int]]) -> None:
        self.beat = beat
        self.total = sum(docs for _, _, docs in chosen)
        self.sources = {target: source for source, target, _ in chosen}
        self.lock = threading.Lock()
        self.acked = 0       # documents acknowledged in this run so far (live)
        self.base = 0        # exact run documents when the last index ended
        self.bytes = 0
        self.current = ""
        self.rows: dict[str, dict[str, Any]] = {}

    def ack(self, n: int) -> None:
        with self.lock:
            self.acked += n
            self._publish()

    def event(self, e: Any) -> None:
        with self.lock:
            row = self.rows.setdefault(e.index, {"source": self.sources.get(e.index, ""), "docs": 0,
                                                 "expected": e.total, "status": "Running"})
            self.current, self.bytes = e.index, e.run_bytes
            row["docs"] = max(int(row["docs"]), e.docs)
            if e.phase in ("done", "failed", "skipped"):
                row.update(docs=e.docs, status={"done": "Succeeded", "failed": "Failed"}.get(e.phase, "Skipped"))
                self.acked = self.base = e.run_docs
            self._publish()

    def _publish(self) -> None:
        docs = max(self.acked, self.base)
        row = self.rows.get(self.current)
        if row is not None and row["status"] == "Running":
            row["docs"] = max(int(row["docs"]), docs - self.base)
        self.beat.update(docs=docs, bytes=self.bytes, index=self.current,
                         index_docs=row["docs"] if row else 0, index_total=row["expected"] if row else None,
                         total_docs=self.total or None, indices={k: dict(v) for k, v in self.rows.items()})


def run_restore(restore_pk: int) -> str:
    from restores.load import load_snapshot

    # Later writes of this run filter on its claim token and on Running: a run the reaper
    # failed, still alive, writes nothing over the reaper's outcome.
    token = secrets.token_hex(16)
    claimed = RestoreSession.objects.filter(pk=restore_pk, phase=RestoreSession.Phase.PENDING).update(
        phase=RestoreSession.Phase.RUNNING, started=timezone.now(), heartbeat=timezone.now(), claim=token
    )
    if claimed != 1:
        return "not claimed"
    restore = RestoreSession.objects.select_related(
        "repository__storage__secret", "repository__encryption_secret", "target__auth_secret", "team"
    ).get(pk=restore_pk)
    outcome: dict[str, Any] = {}
    hook_results: list[dict[str, Any]] = []
    conn = None
    try:
        conn = connect(restore.target)
        engine = storage_flows.open_repository(restore.repository)
        manifest = resolve_snapshot(engine, restore.snapshot)
        RestoreSession.objects.filter(pk=restore_pk).update(resolved_snapshot_id=manifest.id)
        with Heartbeat(RestoreSession, restore.pk, claim=token) as beat:
            ok, results = hooks.run_hooks(restore.hooks.get("preRestore", []), "preRestore", restore.team, conn)
            hook_results += results
            if not ok:
                failed = next(r for r in results if not r["ok"])
                raise JobFailed(f"pre-restore hook '{failed['name']}' failed: {failed['output']}")
            params = load_params(restore.params())
            live = RestoreProgress(beat, plan(manifest, params))
            beat.update(docs=0, bytes=0, total_docs=live.total or None, indices={})
            counting: Any = _AckCounting(conn, live.ack)  # load_snapshot takes it as the Connection it wraps
            result = load_snapshot(counting, manifest, lambda name: engine.read_stream(manifest, name),
                                   params, progress=live.event, cancel=beat.cancel)
            final_progress = beat.snapshot()
        failed = {name: i for name, i in result.indices.items() if i.get("error") or i.get("failed")}
        components: dict[str, Any] = {"load": result.indices, "metadata": result.metadata}
        if result.warnings:
            components["warnings"] = result.warnings
        if beat.cancel.is_set():
            outcome = {"phase": RestoreSession.Phase.CANCELLED, "cancelled_by": beat.cancelled_by,
                       "error": f"cancelled by {beat.cancelled_by}", "components": components}
        elif result.ok:
            outcome = {"phase": RestoreSession.Phase.SUCCEEDED, "components": components, "error": ""}
        else:
            summary = "; ".join(
                f"{name}: {i.get('error') or str(i.get('failed')) + ' documents failed'}" for name, i in failed.items()
            ) or "metadata failed: see components"
            if failed:
                summary = f"{len(failed)} of {len(result.indices)} indices failed: {summary}"
            outcome = {"phase": RestoreSession.Phase.FAILED, "components": components, "error": summary[:5000]}
        outcome["progress"] = final_progress
    except JobFailed as e:
        outcome = {"phase": RestoreSession.Phase.FAILED, "error": str(e)}
    except Exception as e:
        log.exception("restore %s failed", restore.name)
        outcome = {"phase": RestoreSession.Phase.FAILED, "error": str(e) or type(e).__name__}
    post = restore.hooks.get("postRestore", [])
    if post:
        _, results = hooks.run_hooks(post, "postRestore", restore.team, conn,
                                     outcome={"restore": restore.name, "phase": outcome.get("phase"), "error": outcome.get("error", "")})
        hook_results += results
    if conn is not None:
        conn.close()
    if not RestoreSession.objects.filter(pk=restore_pk, phase=RestoreSession.Phase.RUNNING, claim=token).update(
            finished=timezone.now(), hook_results=hook_results, **outcome):
        log.warning("restore %s lost its claim (the reaper failed it meanwhile): its outcome is not written", restore.name)
        return "lost claim"
    return str(outcome["phase"])


# -- verified restores ------------------------------------------------------------------

def verify_params(verifier: Any) -> Any:
    from restores.verification import Query, VerifyParams

    return VerifyParams(prefix=verifier.prefix, random_docs=verifier.random_docs,
                        queries=[Query(q["index"], q["query"], int(q["hits"])) for q in verifier.queries or []])


def run_verification(run_pk: int) -> str:
    """Claim the run, refuse a prefix holding someone else's indices, restore the snapshot
    under the prefix and check it (restores.verification), delete what was restored, and
    record the outcome on the run and on the snapshot."""
    from restores.models import VerificationRun

    token = secrets.token_hex(16)
    if VerificationRun.objects.filter(pk=run_pk, phase=VerificationRun.Phase.PENDING).update(
            phase=VerificationRun.Phase.RUNNING, started=timezone.now(), heartbeat=timezone.now(), claim=token) != 1:
        return "not claimed"
    run = VerificationRun.objects.select_related(
        "verifier__target__auth_secret", "verifier__repository__storage__secret", "verifier__repository__encryption_secret",
        "snapshot", "team").get(pk=run_pk)
    conn = None
    try:
        conn = connect(run.verifier.target)
        with Heartbeat(VerificationRun, run.pk, claim=token) as beat:
            outcome = _verify(run, conn, beat)
    except JobFailed as e:
        outcome = {"phase": VerificationRun.Phase.FAILED, "error": str(e), "details": {}}
    except Exception as e:
        log.exception("verification %s failed", run)
        outcome = {"phase": VerificationRun.Phase.FAILED, "error": str(e) or type(e).__name__, "details": {}}
    finally:
        if conn is not None:
            conn.close()
    return _finish_verification(run, token, outcome)


def _verify(run: Any, conn: Any, beat: Heartbeat) -> dict[str, Any]:
    from restores.models import BackupVerifier, VerificationRun
    from restores.verification import delete_indices, foreign_indices, planned_targets, verify_snapshot

    verifier, phase = run.verifier, VerificationRun.Phase
    foreign = foreign_indices(conn, verifier.prefix, verifier.owned_indices)
    if foreign:
        raise JobFailed(f"cluster {verifier.target.name} already holds indices under {verifier.prefix} that this "
                        f"verifier did not create ({', '.join(foreign[:5])}): delete them or choose another scratch cluster")
    delete_indices(conn, verifier.owned_indices)  # what a crashed run left behind
    engine = storage_flows.open_repository(verifier.repository)
    manifest = engine.manifest(run.snapshot.snapshot_id)
    params = verify_params(verifier)
    planned = planned_targets(manifest, params)
    BackupVerifier.objects.filter(pk=verifier.pk).update(owned_indices=planned)
    try:
        result = verify_snapshot(conn, manifest, lambda name: engine.read_stream(manifest, name), params,
                                 progress=lambda e: beat.update(docs=e.run_docs, bytes=e.run_bytes, index=e.index),
                                 cancel=beat.cancel)
    finally:
        delete_indices(conn, planned)
    BackupVerifier.objects.filter(pk=verifier.pk).update(owned_indices=[])
    details = {"indices": result.indices, "queries": result.queries, "samples": result.samples,
               "problems": result.problems, "notes": result.notes, "prefix": verifier.prefix}
    if beat.cancel.is_set():
        return {"phase": phase.CANCELLED, "error": f"cancelled by {beat.cancelled_by}", "details": details}
    if result.ok:
        return {"phase": phase.SUCCEEDED, "error": "", "details": details}
    return {"phase": phase.FAILED, "error": "; ".join(result.problems)[:5000] or "the restore failed: see the details",
            "details": details}


def _finish_verification(run: Any, token: str, outcome: dict[str, Any]) -> str:
    from backups import notifications
    from backups.models import Snapshot
    from restores.models import VerificationRun

    now = timezone.now()
    if not VerificationRun.objects.filter(pk=run.pk, phase=VerificationRun.Phase.RUNNING, claim=token).update(
            finished=now, **outcome):
        return "lost claim"
    # A run that never got to check the snapshot (refused prefix, cluster down) says
    # nothing about the snapshot: only checked outcomes are written on it.
    if outcome["details"].get("indices") and outcome["phase"] != VerificationRun.Phase.CANCELLED:
        verdict = Snapshot.Verification.VERIFIED if outcome["phase"] == VerificationRun.Phase.SUCCEEDED else Snapshot.Verification.FAILED
        Snapshot.objects.filter(pk=run.snapshot_id).update(
            verification=verdict, verified=now,
            verification_details={**outcome["details"], "verifier": run.verifier.name, "error": outcome["error"]})
    if outcome["phase"] == VerificationRun.Phase.FAILED:
        run.refresh_from_db()
        notifications.verification_failed(run)
    return str(outcome["phase"])
