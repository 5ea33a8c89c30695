"""One reconciliation of Stashboard's rows with their custom resources.

Level-based: every turn lists what is in each namespace, exports what should be there
(through `dashboard.resources.export`, the serializers of `manage.py export`), and
writes only the differences: a create, a patch of metadata+spec, a patch of the status
subresource, a delete of a managed object that has no row any more. A turn cut short by
an API outage leaves nothing half-known: the next turn lists again, a create that
already happened answers 409 and becomes an update, a delete that already happened
answers 404. Nothing here holds a database lock, so backups never wait for the mirror."""
from __future__ import annotations

import difflib
import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import urllib3
import yaml
from django.conf import settings
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from audit.log import Actor
from backups.models import BackupConfiguration
from backups.serializers import export_configuration
from dashboard import resources
from dashboard.k8s.diff import apply_merge_patch, merge_patch, spec_patch, status_patch
from dashboard.k8s.mapping import (
    BY_KIND,
    KINDS,
    LAST_SPEC_ANNOTATION,
    MANAGER,
    SPEC_HASH_ANNOTATION,
    MirroredKind,
    group_for,
    is_managed,
    namespace_for,
    spec_hash,
    to_cluster,
    to_stashboard,
)
from tenancy.manifests import MANAGED_BY, VERSION, ManifestError
from tenancy.models import Team

log = logging.getLogger("stashboard.k8s")

_TRANSIENT_STATUSES = {0, 408, 429, 500, 502, 503, 504}


class APIUnavailable(Exception):
    """The API server cannot be reached or is overloaded: back off and try the turn again."""


class NamespaceClash(Exception):
    pass


@dataclass
class Report:
    created: list[str] = field(default_factory=list)
    patched: list[str] = field(default_factory=list)  # metadata/spec
    status_patched: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    edits_applied: list[str] = field(default_factory=list)
    unmanaged: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{len(self.created)} created, {len(self.patched)} patched, {len(self.status_patched)} status patched, "
                f"{len(self.deleted)} deleted, {len(self.edits_applied)} edits applied, "
                f"{len(self.unmanaged)} left alone (not ours), {len(self.errors)} errors")

    @property
    def writes(self) -> int:
        return len(self.created) + len(self.patched) + len(self.status_patched) + len(self.deleted)


def _name(kind: MirroredKind, namespace: str, name: str) -> str:
    return f"{kind.kind} {namespace}/{name}"


class Mirror:
    def __init__(self, api_client: client.ApiClient, *, dry_run: bool = False, accept_edits: bool = False,
                 out: Callable[[str], None] | None = None) -> None:
        self.api = client.CustomObjectsApi(api_client)
        self.host = api_client.configuration.host
        self.dry_run = dry_run
        self.accept_edits = accept_edits
        self.out = out or (lambda line: None)
        self.timeout = settings.K8S_REQUEST_TIMEOUT

    # --- API calls, with outages told apart from refusals --------------------

    def _call(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, _request_timeout=self.timeout, **kwargs)
        except ApiException as e:
            if (e.status or 0) in _TRANSIENT_STATUSES:
                raise APIUnavailable(f"Kubernetes API at {self.host} answered {e.status} {e.reason}") from e
            raise
        except (urllib3.exceptions.HTTPError, OSError) as e:
            raise APIUnavailable(f"Kubernetes API at {self.host} is unreachable: {e}") from e

    def _gvp(self, kind: MirroredKind) -> tuple[str, str]:
        return group_for(kind.source_group), VERSION

    def _list(self, kind: MirroredKind, namespace: str) -> dict[str, dict[str, Any]]:
        group, version = self._gvp(kind)
        # The selector saves traffic on a real server; the emulator in the tests ignores
        # selectors, and is_managed() is checked again before any write or delete anyway.
        items = self._call(self.api.list_namespaced_custom_object, group, version, namespace, kind.plural,
                           label_selector=f"{MANAGED_BY}={MANAGER}")["items"]
        return {item["metadata"]["name"]: item for item in items}

    # --- one turn --------------------------------------------------------------

    def sync(self, teams: Iterable[Team]) -> Report:
        teams = list(teams)
        seen: dict[str, str] = {}
        for team in teams:
            ns = namespace_for(team.slug)
            if ns in seen:
                raise NamespaceClash(f"teams '{seen[ns]}' and '{team.slug}' both map to namespace '{ns}': "
                                     "fix K8S_NAMESPACE_MAP / K8S_NAMESPACE_TEMPLATE (one team, one namespace)")
            seen[ns] = team.slug
        report = Report()
        for team in teams:
            self.sync_team(team, report)
        return report

    def sync_team(self, team: Team, report: Report) -> None:
        namespace = namespace_for(team.slug)
        observed: dict[str, dict[str, dict[str, Any]]] = {}
        for kind in KINDS:
            try:
                observed[kind.kind] = self._list(kind, namespace)
            except ApiException as e:
                group, version = self._gvp(kind)
                report.errors.append(
                    f"cannot list {kind.plural}.{group} in namespace '{namespace}' ({e.status} {e.reason}): "
                    "install deploy/crds (kubectl apply -f deploy/crds/), create the namespace, "
                    "or grant the service account list/create/patch/delete on it"
                )
        if self.accept_edits and "BackupConfiguration" in observed:
            self._accept_edits(team, observed["BackupConfiguration"], report)

        desired: dict[str, dict[str, dict[str, Any]]] = {k.kind: {} for k in KINDS}
        for doc in resources.export([team], kinds=[k.kind for k in KINDS]):
            desired[doc["kind"]][doc["metadata"]["name"]] = to_cluster(doc, team.slug)

        for kind in KINDS:
            if kind.kind not in observed:
                continue  # unknown state: write nothing, delete nothing
            for name, want in desired[kind.kind].items():
                self._reconcile(kind, namespace, name, observed[kind.kind].get(name), want, report)
        for kind in reversed(KINDS):
            if kind.kind not in observed:
                continue
            for name, have in observed[kind.kind].items():
                if name not in desired[kind.kind] and is_managed(have):
                    self._delete(kind, namespace, name, have, report)

    def _reconcile(self, kind: MirroredKind, namespace: str, name: str, have: dict[str, Any] | None,
                   want: dict[str, Any], report: Report) -> None:
        label = _name(kind, namespace, name)
        group, version = self._gvp(kind)
        if have is None:
            self._diff(f"+ create {label}", {}, want)
            if self.dry_run:
                report.created.append(label)
                return
            try:
                # A real API server drops .status on create (status subresource); the
                # emulator keeps it. Either way the status is patched just after.
                self._call(self.api.create_namespaced_custom_object, group, version, namespace, kind.plural, want)
                report.created.append(label)
                have = {"metadata": want["metadata"], "spec": want["spec"]}
            except ApiException as e:
                if e.status != 409:
                    report.errors.append(f"{label}: create refused ({e.status} {e.reason}): {_message(e)}")
                    return
                # Created by an earlier turn whose answer was lost, or by someone else.
                have = self._call(self.api.get_namespaced_custom_object, group, version, namespace, kind.plural, name)
        assert have is not None
        if not is_managed(have):
            if label not in report.unmanaged:
                log.warning("%s exists and is not managed by Stashboard: left alone", label)
                report.unmanaged.append(label)
            return
        body = spec_patch(have, want)
        if body is not None:
            self._diff(f"~ update {label}", _main(have), _main(want))
            if (have.get("metadata", {}).get("annotations") or {}).get(SPEC_HASH_ANNOTATION) not in (
                    None, spec_hash(have.get("spec") or {})):
                log.warning("%s: spec was edited in the cluster; putting back the database's", label)
            if not self.dry_run:
                try:
                    self._call(self.api.patch_namespaced_custom_object, group, version, namespace, kind.plural, name,
                               body, _content_type="application/merge-patch+json")
                except ApiException as e:
                    report.errors.append(f"{label}: patch refused ({e.status} {e.reason}): {_message(e)}")
                    return
            report.patched.append(label)
        status = status_patch(have, want)
        if status is not None:
            self._diff(f"~ status {label}", {"status": have.get("status") or {}}, {"status": want.get("status") or {}})
            if not self.dry_run:
                try:
                    self._call(self.api.patch_namespaced_custom_object_status, group, version, namespace, kind.plural,
                               name, status, _content_type="application/merge-patch+json")
                except ApiException as e:
                    report.errors.append(f"{label}: status patch refused ({e.status} {e.reason}): {_message(e)}")
                    return
            report.status_patched.append(label)

    def _delete(self, kind: MirroredKind, namespace: str, name: str, have: dict[str, Any], report: Report) -> None:
        label = _name(kind, namespace, name)
        self._diff(f"- delete {label}", _main(have), {})
        if not self.dry_run:
            group, version = self._gvp(kind)
            try:
                self._call(self.api.delete_namespaced_custom_object, group, version, namespace, kind.plural, name)
            except ApiException as e:
                if e.status != 404:  # 404: already gone (an earlier turn's answer was lost)
                    report.errors.append(f"{label}: delete refused ({e.status} {e.reason}): {_message(e)}")
                    return
        report.deleted.append(label)

    # --- the direction back: a kubectl edit of a BackupConfiguration's spec -----

    def _accept_edits(self, team: Team, observed: dict[str, dict[str, Any]], report: Report) -> None:
        kind = BY_KIND["BackupConfiguration"]
        namespace = namespace_for(team.slug)
        for name, have in observed.items():
            annotations = have.get("metadata", {}).get("annotations") or {}
            spec = have.get("spec") or {}
            if not is_managed(have) or annotations.get(SPEC_HASH_ANNOTATION) in (None, spec_hash(spec)):
                continue  # not ours, or nobody edited it since we wrote it
            obj = (BackupConfiguration.objects.filter(team=team, name=name).select_related("team", "target__team")
                   .prefetch_related(*resources.BY_KIND["BackupConfiguration"].prefetch).first())
            if obj is None:
                continue  # its row is gone: the CR is deleted below
            label = _name(kind, namespace, name)
            doc = export_configuration(obj)
            ours = to_cluster(doc, team.slug)["spec"]
            # Three-way merge, as `kubectl apply` does: only what the edit changed since
            # our last write goes in, so a change made meanwhile in the dashboard stays.
            last = annotations.get(LAST_SPEC_ANNOTATION)
            edit = merge_patch(json.loads(last), spec) if last else merge_patch(ours, spec)
            merged = apply_merge_patch(ours, edit)
            if merged == ours:
                continue
            self._diff(f"< accept edit {label}", {"spec": ours}, {"spec": merged})
            # The status is the database's own: leave it out so a phase written meanwhile by
            # a job is never overwritten by the one exported a moment ago.
            doc = {"apiVersion": doc["apiVersion"], "kind": doc["kind"], "metadata": doc["metadata"],
                   "spec": to_stashboard(merged, team.slug)}
            try:
                resources.apply([doc], dry_run=self.dry_run, actor=Actor.command("k8s_sync --accept-edits"))
            except ManifestError as e:
                message = f"{label}: edit refused, the database's spec is put back: {e}"
                log.error(message)
                report.errors.append(message)
                continue
            log.info("%s: applied an edit made in the cluster: %s", label, json.dumps(edit, sort_keys=True))
            report.edits_applied.append(label)

    def _diff(self, title: str, before: dict[str, Any], after: dict[str, Any]) -> None:
        if not self.dry_run:
            return
        a = yaml.safe_dump(before, sort_keys=True).splitlines() if before else []
        b = yaml.safe_dump(after, sort_keys=True).splitlines() if after else []
        self.out(title)
        for line in difflib.unified_diff(a, b, "cluster", "stashboard", lineterm="", n=2):
            self.out("    " + line)


def _main(obj: dict[str, Any]) -> dict[str, Any]:
    meta = obj.get("metadata") or {}
    return {"metadata": {"labels": meta.get("labels") or {}, "annotations": meta.get("annotations") or {}},
            "spec": obj.get("spec") or {}}


def _message(e: ApiException) -> str:
    try:
        return json.loads(e.body or "{}").get("message", "") or str(e.reason)
    except ValueError:
        return str(e.body or e.reason)
