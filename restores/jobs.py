"""The restore job: claim the RestoreSession, run pre-restore hooks, stream the chosen
indices from the repository into the target, write per-index components, post hooks."""
from __future__ import annotations

import logging
import threading
from typing import Any

from django.utils import timezone

from backups.addons.elasticsearch import METADATA_KINDS
from backups.validators import split_list
from restores import rules
from restores.models import RestoreSession
from runtime import hooks
from runtime.heartbeat import Heartbeat
from runtime.jobs import JobFailed, Run, error_text, run_pre_hooks
from storage import flows as storage_flows

log = logging.getLogger(__name__)


def load_params(params: dict[str, Any]) -> Any:
    from backups.elastic.metadata import CLUSTER_KINDS
    from restores.load import LoadParams

    kinds = set(split_list(params.get("metadata"))) & set(METADATA_KINDS)
    return LoadParams(
        include=rules.patterns(params["indices"]) or ["*"],
        exclude=rules.patterns(params["exclude"]),
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
    from restores.load import choices

    return [(c.source, c.target, c.docs) for c in choices(manifest, params)]


class RestoreProgress:
    """What the restore page shows while it runs, forwarded from the load's own events
    (restores.load: "start" per index, "data" per acknowledged _bulk, then its end): the
    run's documents out of the chosen indices' (from the manifest), and one row per index
    from the moment it starts."""

    def __init__(self, beat: Heartbeat, chosen: list[tuple[str, str, int]]) -> None:
        self.beat = beat
        self.total = sum(docs for _, _, docs in chosen)
        self.sources = {target: source for source, target, _ in chosen}
        self.lock = threading.Lock()
        self.rows: dict[str, dict[str, Any]] = {}

    def event(self, e: Any) -> None:
        with self.lock:
            row = self.rows.setdefault(e.index, {"source": self.sources.get(e.index, ""), "docs": 0,
                                                 "expected": e.total, "status": "Running"})
            row["docs"] = e.docs
            if e.phase in ("done", "failed", "skipped"):
                row["status"] = {"done": "Succeeded", "failed": "Failed"}.get(e.phase, "Skipped")
            self.beat.update(docs=e.run_docs, bytes=e.run_bytes, index=e.index, index_docs=e.docs,
                             index_total=e.total, total_docs=self.total or None,
                             indices={k: dict(v) for k, v in self.rows.items()})


def _resume_state(restore: RestoreSession, run: Run) -> Any:
    """What earlier attempts of this restore did, recorded on the row as this attempt goes."""
    from restores.load.resume import ResumeState

    def record(doc: dict[str, Any]) -> None:
        run.rows().update(components={"resume": doc})

    state = ResumeState.from_json((restore.components or {}).get("resume"), record)
    run.rows().update(components={"resume": state.to_json()})
    return state


def run_restore(restore_pk: int) -> str:
    from restores.load import load_snapshot

    run = Run.claim(RestoreSession, restore_pk)
    if run is None:
        return "not claimed"  # another worker has it, or it was cancelled
    restore = RestoreSession.objects.select_related(
        "repository__storage__secret", "repository__encryption_secret", "target__auth_secret", "team"
    ).get(pk=restore_pk)
    outcome: dict[str, Any] = {}
    hook_results: list[dict[str, Any]] = []
    conn = None
    try:
        conn = restore.target.connect()
        engine = storage_flows.open_repository(restore.repository)
        manifest = resolve_snapshot(engine, restore.snapshot)
        RestoreSession.objects.filter(pk=restore_pk).update(resolved_snapshot_id=manifest.id)
        with run.heartbeat() as beat:
            run_pre_hooks(restore.hooks.get("preRestore", []), "preRestore", restore.team, conn, record=hook_results.extend)
            params = load_params(restore.params())
            params.resume = _resume_state(restore, run)
            live = RestoreProgress(beat, plan(manifest, params))
            beat.update(docs=0, bytes=0, total_docs=live.total or None, indices={})
            params.progress = live.event
            result = load_snapshot(conn, manifest, lambda name: engine.read_stream(manifest, name),
                                   params, cancel=beat.cancel)
            final_progress = beat.snapshot()
        failed = {name: i for name, i in result.indices.items() if i.get("error") or i.get("failed")}
        components: dict[str, Any] = {"load": result.indices, "metadata": result.metadata,
                                      "resume": params.resume.to_json()}
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
        outcome = {"phase": RestoreSession.Phase.FAILED, "error": error_text(e)}
    post = restore.hooks.get("postRestore", [])
    if post:
        _, results = hooks.run_hooks(post, "postRestore", restore.team, conn,
                                     outcome={"restore": restore.name, "phase": outcome.get("phase"), "error": outcome.get("error", "")})
        hook_results += results
    if conn is not None:
        conn.close()
    if not run.finish(hook_results=hook_results, **outcome):
        return run.lost(restore.name, "the reaper failed it meanwhile")
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

    run = Run.claim(VerificationRun, run_pk)
    if run is None:
        return "not claimed"  # another worker has it, or it was cancelled
    row = VerificationRun.objects.select_related(
        "verifier__target__auth_secret", "verifier__repository__storage__secret", "verifier__repository__encryption_secret",
        "snapshot__repository", "team").get(pk=run_pk)
    conn = None
    try:
        conn = row.verifier.target.connect()
        with run.heartbeat() as beat:
            outcome = _verify(row, conn, beat)
    except JobFailed as e:
        outcome = {"phase": VerificationRun.Phase.FAILED, "error": str(e), "components": {}}
    except Exception as e:
        log.exception("verification %s failed", row)
        outcome = {"phase": VerificationRun.Phase.FAILED, "error": error_text(e), "components": {}}
    finally:
        if conn is not None:
            conn.close()
    if not run.finish(**outcome):
        return run.lost(row.name, "the reaper failed it meanwhile")
    verification_finished(row, outcome)
    return str(outcome["phase"])


def _verify(run: Any, conn: Any, beat: Heartbeat) -> dict[str, Any]:
    from restores.models import BackupVerifier, VerificationRun
    from restores.verification import delete_indices, foreign_indices, planned_targets, verify_snapshot

    verifier, phase = run.verifier, VerificationRun.Phase
    # The flows only pair a verifier with its own repository's snapshots; a row made
    # otherwise (the admin, a script) must not read or write another team's data.
    if not (run.team_id == verifier.team_id == verifier.target.team_id == run.snapshot.team_id
            and run.snapshot.repository_id == verifier.repository_id):
        raise JobFailed(f"snapshot {run.snapshot.name} is not of repository {verifier.repository.name} of the "
                        f"verifier's team: a verifier verifies its own repository's snapshots only", retry=False)
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
    found = {"indices": result.indices, "queries": result.queries, "samples": result.samples,
             "problems": result.problems, "notes": result.notes, "prefix": verifier.prefix}
    if beat.cancel.is_set():
        return {"phase": phase.CANCELLED, "error": f"cancelled by {beat.cancelled_by}", "components": found}
    if result.ok:
        return {"phase": phase.SUCCEEDED, "error": "", "components": found}
    return {"phase": phase.FAILED, "error": "; ".join(result.problems)[:5000] or "the restore failed: see the details",
            "components": found}


def verification_finished(run: Any, outcome: dict[str, Any]) -> None:
    """Write a checked outcome on the snapshot, and notify a failure as a failed backup is.
    A run that never got to check the snapshot (refused prefix, cluster down) says
    nothing about the snapshot: only checked outcomes are written on it."""
    from backups import notifications
    from backups.models import Snapshot
    from restores.models import VerificationRun

    found, failed = outcome.get("components") or {}, outcome["phase"] == VerificationRun.Phase.FAILED
    if found.get("indices") and outcome["phase"] != VerificationRun.Phase.CANCELLED:
        verdict = Snapshot.Verification.FAILED if failed else Snapshot.Verification.VERIFIED
        Snapshot.objects.filter(pk=run.snapshot_id).update(
            verification=verdict, verified=timezone.now(),
            verification_details={**found, "verifier": run.verifier.name, "error": outcome["error"]})
    if failed:
        run.refresh_from_db()
        try:
            notifications.verification_failed(run)
        except Exception:
            log.exception("notifying the failed verification %s failed", run.name)


def verification_reaped(run: Any) -> None:
    """runtime.reaper's on_failed: a run whose worker died failed, and says so as a failed run does."""
    from backups import notifications

    run.refresh_from_db()
    try:
        notifications.verification_failed(run)
    except Exception:
        log.exception("notifying the lost verification %s failed", run.name)
