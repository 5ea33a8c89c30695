"""The backup job: claim the Snapshot row, run pre-backup hooks, stream the dump into
the repository, commit the manifest last, write components, run post-backup hooks,
apply retention, end the session. Takes a row id, never a secret."""
from __future__ import annotations

import functools
import logging
import threading
import time
from datetime import timedelta
from typing import Any

import django_rq
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from backups import flows
from backups.addons.elasticsearch import METADATA_KINDS
from backups.models import BackupSession, BackupSessionConfig, SessionPhase, Snapshot
from backups.validators import split_list
from runtime import hooks
from runtime.heartbeat import Heartbeat
from runtime.jobs import JobFailed, Run, error_text, run_pre_hooks
from storage import flows as storage_flows
from storage.models import Repository

log = logging.getLogger(__name__)


class _CountingWriter:
    """Passes streams to the repository writer and adds up what was newly stored."""

    def __init__(self, writer: Any):
        self.writer = writer
        self.stored_bytes_new = 0
        self._lock = threading.Lock()

    def _count(self, info: Any) -> Any:
        with self._lock:
            self.stored_bytes_new += int(getattr(info, "stored_bytes_new", 0) or getattr(info, "bytes_new", 0) or 0)
        return info

    def add_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._count(self.writer.add_stream(*args, **kwargs))

    def reuse_stream(self, *args: Any, **kwargs: Any) -> Any:
        return self._count(self.writer.reuse_stream(*args, **kwargs))

    def forget_stream(self, name: str) -> None:
        self.writer.forget_stream(name)


def dump_params(params: dict[str, Any]) -> Any:
    from backups.elastic.dump import DumpParams
    from backups.elastic.metadata import CLUSTER_KINDS

    kinds = set(split_list(params.get("metadata"))) & set(METADATA_KINDS)
    return DumpParams(
        include=split_list(params["indices"]) or ["*"],
        exclude=split_list(params["exclude"]),
        include_hidden=bool(params["include_hidden"]),
        batch_size=int(params["batch_size"]),
        page_bytes=int(params["page_bytes"]),
        max_slices=int(params["slices"]),
        parallel_indices=int(params["parallel_indices"]),
        max_docs_per_second=float(params["max_docs_per_second"]),
        resumable_bytes=int(params["resumable_bytes"]),
        metadata_kinds=tuple(k for k in CLUSTER_KINDS if k in kinds),
        skip_unchanged=bool(params["skip_unchanged"]),
        incremental=bool(params["incremental"]),
        chain_length=int(params["chain_length"]),
    )


def expected_docs(conn: Any, params: Any) -> int | None:
    """Documents the dump will cover, known before it starts, so that progress and ETA
    are about the whole run (None when the cluster will not say)."""
    from backups.elastic.connection import index_list_paths
    from backups.elastic.metadata import list_indices, select_indices

    try:
        if conn.dialect is None:
            conn.identify()
        names = [i.name for i in select_indices(list_indices(conn), params.include, params.exclude, params.include_hidden)
                 if i.status == "open"]
        total = sum(int(conn.json("GET", f"{path}/_count", params={"ignore_unavailable": "true"})["count"])
                    for path in index_list_paths(names))
        return total or None
    except Exception as e:  # progress is a nicety: never fail a backup over it
        log.info("could not count the documents to back up: %s", e)
        return None


def run_backup(snapshot_pk: int) -> str:
    run = Run.claim(Snapshot, snapshot_pk, due=Q(not_before__isnull=True) | Q(not_before__lte=timezone.now()),
                    attempts=F("attempts") + 1, not_before=None, error="")
    if run is None:
        return "not claimed"  # another worker has it, or it was cancelled
    snap = Snapshot.objects.select_related(
        "repository__storage__secret", "repository__encryption_secret", "backup_session__configuration__target__auth_secret",
        "team",
    ).get(pk=snapshot_pk)
    session = snap.backup_session
    assert session is not None
    if not snap.repository.is_ready():
        return _wait_for_repository(snap, session, run)
    if snap.waiting_since is not None:
        Snapshot.objects.filter(pk=snap.pk).update(waiting_since=None)
    # The one job that moves the session to Running runs its pre-backup hooks.
    first = BackupSession.objects.filter(pk=session.pk, phase=SessionPhase.PENDING).update(
        phase=SessionPhase.RUNNING, started=snap.started, error="") == 1
    config = session.configuration
    session_config = BackupSessionConfig.objects.select_related("retention_policy").get(configuration=config, name=session.session)
    outcome: dict[str, Any] = {}
    conn = engine = None
    retry = True
    try:
        with run.heartbeat() as beat:
            try:
                conn = config.target.connect()
            finally:
                # hooks run even when the cluster cannot be reached (an http hook may page someone)
                _pre_backup_hooks(session, session_config, conn, first=first, beat=beat)
            # opened once: its key derivation (Argon2id, ~0.1-0.4 s) is paid once per run, not for the retention again
            engine = storage_flows.open_repository(snap.repository)
            outcome = _dump(snap, engine, session, session_config, conn, beat)
            if beat.lost.is_set():
                return run.lost(snap.name, "the reaper failed it meanwhile")
    except JobFailed as e:
        retry = e.retry
        outcome = {"phase": Snapshot.Phase.FAILED, "error": str(e)}
    except Exception as e:  # the row must say why, whatever failed
        log.exception("backup %s failed", snap.name)
        outcome = {"phase": Snapshot.Phase.FAILED, "error": error_text(e)}
    finally:
        if conn is not None:
            conn.close()
    fields = {k: v for k, v in outcome.items() if k in {f.name for f in Snapshot._meta.fields}}
    limit = session_config.backoff_limit
    if outcome.get("phase") == Snapshot.Phase.FAILED and retry and snap.attempts <= limit:
        return _retry_later(snap, run, outcome, limit)
    if outcome.get("phase") == Snapshot.Phase.FAILED and snap.attempts > 1:
        fields["error"] = f"attempt {snap.attempts} of {limit + 1} (backoffLimit {limit}): {fields.get('error', '')}"
    if not run.finish(**fields):
        return run.lost(snap.name, "its row was ended meanwhile")
    if outcome.get("phase") == Snapshot.Phase.SUCCEEDED and engine is not None:
        _apply_retention(snap.repository, engine, session_config, session)
    flows.finish_session(session.pk)
    return str(outcome.get("phase"))


REPOSITORY_RECHECK = 30  # seconds between two looks at a repository that is not Ready


def _wait_for_repository(snap: Snapshot, session: BackupSession, run: Run) -> str:
    """The repository is not Ready (its initialization may still be queued behind this
    job): back to Pending saying why, looked at again when the repository becomes Ready
    (flows.repository_ready) or by the scheduler; Failed once REPOSITORY_WAIT_TIMEOUT passed."""
    repo = snap.repository
    now = timezone.now()
    since = snap.waiting_since or now
    timeout = int(settings.REPOSITORY_WAIT_TIMEOUT)
    why = repo.status_message or "its initialization has not run yet"
    if (now - since).total_seconds() >= timeout:
        error = (f"repository '{repo.name}' was not Ready within {timeout}s ({why}): fix it (see the repository's "
                 f"page) and trigger the backup again")
        if run.finish(phase=Snapshot.Phase.FAILED, error=error, waiting_since=None):
            flows.finish_session(session.pk)
        return str(Snapshot.Phase.FAILED)
    message = f"waiting for repository '{repo.name}' to be Ready ({why}); waiting at most {timeout}s"
    run.rows().update(phase=Snapshot.Phase.PENDING, error=message, waiting_since=since, claim="",
                      attempts=F("attempts") - 1, started=None, heartbeat=None,
                      not_before=now + timedelta(seconds=REPOSITORY_RECHECK))
    BackupSession.objects.filter(pk=session.pk, phase=SessionPhase.PENDING).update(error=message)
    log.info("backup %s: %s", snap.name, message)
    return "waiting for the repository"


def _pre_backup_hooks(session: BackupSession, session_config: BackupSessionConfig, conn: Any, *, first: bool,
                      beat: Heartbeat) -> None:
    """preBackup hooks run once per session, as KubeStash runs them, not once per
    repository: the job that started the session runs them and records the verdict;
    the session's other jobs wait for it (their heartbeat keeps them from being reaped)."""
    todo = session_config.hooks.get("preBackup", [])
    if not todo:
        return
    if first:
        ok = False
        try:
            run_pre_hooks(todo, "preBackup", session.team, conn, record=lambda results: _add_hook_results(session, results))
            ok = True
        finally:
            BackupSession.objects.filter(pk=session.pk).update(pre_hooks_ok=ok)
        return
    wait = sum(float(h.get("timeout", 30)) for h in todo) + 60
    deadline = time.monotonic() + wait
    while not beat.cancel.is_set():
        verdict = BackupSession.objects.filter(pk=session.pk).values_list("pre_hooks_ok", flat=True).first()
        if verdict is True:
            return
        if verdict is False:
            raise JobFailed("the session's pre-backup hooks failed: see its hook results", retry=False)
        if time.monotonic() > deadline:
            raise JobFailed(f"the session's pre-backup hooks did not finish within {wait:.0f}s: the job running "
                            "them may have died")
        time.sleep(0.5)


def run_post_hooks(session_pk: int) -> str:
    """postBackup hooks, once per session after it ended (whatever its outcome); enqueued
    by flows.finish_session."""
    session = BackupSession.objects.select_related("configuration__target__auth_secret", "team").get(pk=session_pk)
    session_config = BackupSessionConfig.objects.filter(configuration=session.configuration, name=session.session).first()
    todo = session_config.hooks.get("postBackup", []) if session_config is not None else []
    if not todo:
        return "no hooks"
    conn = None
    try:
        conn = session.configuration.target.connect()
    except Exception as e:  # elasticsearch hooks then fail saying so; http ones still run
        log.warning("post-backup hooks of %s: cannot reach the cluster: %s", session.name, e)
    try:
        snapshots = list(session.snapshots.values_list("name", flat=True))
        ok, results = hooks.run_hooks(todo, "postBackup", session.team, conn, outcome={
            "session": session.name, "phase": session.phase, "error": session.error, "snapshots": snapshots})
    finally:
        if conn is not None:
            conn.close()
    _add_hook_results(session, results)
    return "ok" if ok else "failed"


def _retry_later(snap: Snapshot, run: Run, outcome: dict[str, Any], limit: int) -> str:
    """A failed attempt with retries left (KubeStash's backoffLimit): the snapshot goes back
    to Pending with the reason, and runs again after BACKUP_RETRY_DELAY (enqueued now when
    that is 0, else by the scheduler's requeue of due Pending rows)."""
    delay = int(settings.BACKUP_RETRY_DELAY)
    when = "now" if delay <= 0 else f"in {delay}s"
    error = (f"attempt {snap.attempts} of {limit + 1} failed, retrying {when} (backoffLimit {limit}): "
             f"{outcome.get('error', '')}")
    if not run.rows().update(
        phase=Snapshot.Phase.PENDING, error=error[:5000], heartbeat=None, progress={}, claim="",
        not_before=timezone.now() + timedelta(seconds=max(0, delay)),
    ):
        return run.lost(snap.name, "its row was ended meanwhile")
    if delay <= 0:
        transaction.on_commit(lambda: django_rq.get_queue("backups").enqueue(
            run_backup, snap.pk, job_timeout=settings.RQ_QUEUES["backups"]["DEFAULT_TIMEOUT"]))
    log.warning("backup %s: %s", snap.name, error)
    return "Retrying"


def _dump(snap: Snapshot, engine: Any, session: BackupSession, session_config: BackupSessionConfig, conn: Any,
          beat: Heartbeat) -> dict[str, Any]:
    from backups.elastic.dump import dump_cluster

    repo = snap.repository
    params = session_config.params()
    previous = engine.latest(where=lambda m: m.status == "Succeeded") if params["skip_unchanged"] else None
    totals: dict[str, int] = {}
    done_docs: dict[str, int] = {}
    done_bytes: dict[str, int] = {}
    expected = expected_docs(conn, dump_params(params))

    def progress(event: Any) -> None:
        if event.total is not None:
            totals[event.index] = event.total
        # Per index, so an index referenced unchanged from the previous snapshot counts as done.
        done_docs[event.index] = event.docs
        done_bytes[event.index] = event.bytes
        beat.update(docs=sum(done_docs.values()), bytes=sum(done_bytes.values()), index=event.index,
                    index_docs=event.docs, index_total=event.total,
                    total_docs=expected or sum(totals.values()) or None, phase=event.phase)

    meta = {
        "configuration": str(session.configuration.uuid),
        "configuration_name": session.configuration.name,
        "session": session.session,
        "backup_session": session.name,
        "team": snap.team.slug,
        "trigger": session.trigger,
    }
    t0 = time.monotonic()
    key, point = _resume_point(engine, session)
    with engine.writer(meta=meta, checkpoint=key, checkpoint_every=settings.BACKUP_CHECKPOINT_SECONDS,
                       resume=point) as writer:
        counting = _CountingWriter(writer)
        result = dump_cluster(conn, counting, dump_params(params), previous=previous, progress=progress, cancel=beat.cancel,
                              resume=point, read_previous=functools.partial(_read_previous, engine, previous))
        if beat.cancel.is_set():
            # Leaving the writer without commit: no snapshot exists in the repository.
            return {"phase": Snapshot.Phase.CANCELLED, "error": f"cancelled by {beat.cancelled_by}",
                    "components": {"dump": result.indices}}
        status = "Succeeded" if result.ok else "Failed"
        errors = {name: i["error"] for name, i in result.indices.items() if i.get("error")}
        snapshot_id = writer.commit(meta={
            "status": status,
            "cluster": result.cluster_meta.get("cluster", {}),
            "cluster_metadata": {k: v for k, v in result.cluster_meta.items() if k != "cluster"},
            "errors": errors,
            "warnings": result.warnings,
            **({"resumed_from": point.id} if point is not None else {}),
        })
    manifest = engine.manifest(snapshot_id)
    components: dict[str, Any] = {"dump": {**result.indices}}
    if result.warnings:
        components["warnings"] = result.warnings
    if point is not None:
        components["resumed_from"] = {"checkpoint": point.short_id, "indices": sorted(
            name for name, i in result.indices.items() if i.get("resumed_from"))}
    outcome: dict[str, Any] = {
        "phase": Snapshot.Phase.SUCCEEDED if result.ok else Snapshot.Phase.FAILED,
        "snapshot_id": snapshot_id,
        "snapshot_time": manifest.time,
        "size_bytes": manifest.size,
        "uploaded_bytes": counting.stored_bytes_new,
        "total_docs": result.docs,
        "total_components": len(result.indices),
        "components": components,
        "integrity": True,
        "error": "" if result.ok else "indices failed: " + "; ".join(f"{k}: {v}" for k, v in errors.items()),
        "progress": {**beat.snapshot(), "elapsed": round(time.monotonic() - t0, 1)},
    }
    # Database-side: backups into one repository run at once, and a value read at the start
    # of this job would lose the other's bytes.
    _update_repository_counts(repo.pk, engine, last_backup=manifest.time,
                              size_bytes=F("size_bytes") + counting.stored_bytes_new)
    return outcome


def _read_previous(engine: Any, previous: Any, name: str) -> Any:
    """A stream of the previous snapshot (an incremental dump's id lists); given even without
    one, so that a first backup writes the id lists the next one compares with."""
    if previous is None:
        raise ValueError("no previous snapshot to read from")
    # id list runs are merged many at once: a small read-ahead each keeps memory flat
    return engine.read_stream(previous, name, workers=1, window=2)


def _resume_point(engine: Any, session: BackupSession) -> tuple[str, Any]:
    """The checkpoint key of this session's configuration and what its interrupted runs
    left to resume from (None: nothing, or it cannot be read: then everything is read)."""
    key = f"{session.configuration.uuid}/{session.session}"
    try:
        return key, engine.resume_point(key)
    except Exception as e:  # a checkpoint is an optimization: never fail a backup over it
        log.warning("backup %s: not resuming (%s)", session.name, e)
        return key, None


def _update_repository_counts(repo_pk: int, engine: Any, **fields: Any) -> None:
    """Counts of the repository row from a listing made under its row lock, so that of two
    jobs the one that writes last has listed last (after both commits)."""
    with transaction.atomic():
        row = Repository.objects.select_for_update().only("pk", "last_backup").get(pk=repo_pk)
        if "last_backup" in fields and row.last_backup and row.last_backup > fields["last_backup"]:
            del fields["last_backup"]  # a newer snapshot already finished
        Repository.objects.filter(pk=repo_pk).update(snapshot_count=len(engine.snapshot_ids()), **fields)


def _add_hook_results(session: BackupSession, results: list[dict[str, Any]]) -> None:
    if not results:
        return
    with transaction.atomic():  # the row lock orders concurrent writers: none loses the other's results
        current = BackupSession.objects.select_for_update().values_list("hook_results", flat=True).get(pk=session.pk)
        BackupSession.objects.filter(pk=session.pk).update(hook_results=list(current or []) + results)


def _apply_retention(repo: Repository, engine: Any, session_config: BackupSessionConfig, session: BackupSession) -> None:
    policy = session_config.retention_policy
    if policy is None:
        return
    from storage.repo import RetentionRules

    try:
        rules = policy.rules()
        result = engine.forget(RetentionRules(
            last=rules["last"], hourly=rules["hourly"], daily=rules["daily"], weekly=rules["weekly"],
            monthly=rules["monthly"], yearly=rules["yearly"], failed_last=rules["failed_last"],
            max_retention_period=rules["max_age"],
        ))
        removed = [m.id for m in result.remove]
        Snapshot.objects.filter(repository=repo, snapshot_id__in=removed).delete()
        _update_repository_counts(repo.pk, engine)
        summary = {"policy": policy.name, "repository": repo.name, "kept": len(result.keep), "removed": [i[:8] for i in removed]}
        if removed:
            storage_flows.prune_repository(repo)
    except Exception as e:
        log.exception("retention of %s failed", repo.display_name())
        summary = {"policy": policy.name, "repository": repo.name, "error": str(e)}
    with transaction.atomic():  # the session's repositories finish at once: each adds its own key
        current = BackupSession.objects.select_for_update().values_list("retention", flat=True).get(pk=session.pk)
        BackupSession.objects.filter(pk=session.pk).update(retention={**(current or {}), repo.name: summary})
