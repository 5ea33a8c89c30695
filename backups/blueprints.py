"""BackupBlueprint: a cluster whose labels match a blueprint's selector gets a
BackupConfiguration made from its template (KubeStash's auto-backup).

`reconcile(team)` is the one function that acts, idempotent: it runs after a cluster
or a blueprint is saved (dashboard, YAML, API, admin) and on every scheduler turn. Rules:

- A matching cluster gets the rendered configuration (and its repositories), linked to
  the blueprint; a new one is made Ready through `flows.configuration_saved`, which
  starts its instant backup. A blueprint change updates every configuration it made.
- A detached configuration (`detach()`) is its users' own: the blueprint leaves its
  cluster alone from then on.
- A cluster that stops matching (labels, selector) has its configuration paused, never
  deleted, so its snapshots stay; when it matches again the configuration is updated and
  resumed. A deleted blueprint pauses its configurations and leaves them to their users
  (`models.pause_made_configurations`).
- One cluster follows at most one blueprint: a save that would make two match is refused
  (`cluster_conflict`, `blueprint_errors`); should it happen anyway, the blueprint that
  already made the configuration keeps it, else the first by name, and the others say so.
- Everything is per team: a blueprint only ever sees its own team's clusters."""
from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Q

import audit
from audit.log import Actor
from audit.models import Action
from backups.labels import matches, selector_errors
from backups.models import BackupBlueprint, BackupConfiguration, Cluster
from storage.models import Repository
from storage.validators import normalize_directory
from tenancy.manifests import APPCATALOG_GROUP, CORE_GROUP, VERSION, ManifestError, Node
from tenancy.models import Team

log = logging.getLogger(__name__)

VARIABLES = {
    "CLUSTER_NAME": "the cluster's name",
    "TEAM": "the team's slug (the namespace)",
    "BLUEPRINT_NAME": "the blueprint's name",
}
# KubeStash's and Kubernetes' names for what Stashboard calls otherwise.
_INSTEAD = {"CLUSTER_NAMESPACE": "TEAM", "NAMESPACE": "TEAM", "TARGET_NAMESPACE": "TEAM", "TARGET_NAME": "CLUSTER_NAME",
            "APP_NAME": "CLUSTER_NAME", "CLUSTER": "CLUSTER_NAME", "BLUEPRINT": "BLUEPRINT_NAME"}
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
TEMPLATE_FIELDS = ("backends", "sessions", "timeZone", "paused")


@dataclass(frozen=True)
class Problem:
    """field: selector, configuration_name or template; path: inside it (`sessions[0].schedule`)."""

    field: str
    path: str
    message: str
    clusters: tuple[str, ...] = ()  # the clusters whose configuration it concerns

    def text(self) -> str:
        text = f"{self.path}: {self.message}" if self.path else self.message
        if not self.clusters:
            return text
        names = ", ".join(f"'{c}'" for c in self.clusters)
        return f"for cluster{'s' if len(self.clusters) > 1 else ''} {names}: {text}"


def variable_help() -> str:
    return ", ".join(f"${{{k}}} ({v})" for k, v in VARIABLES.items())


def _variable_problems(value: Any, path: str, field: str) -> list[Problem]:
    if isinstance(value, dict):
        return [p for k, v in value.items() for p in _variable_problems(v, f"{path}.{k}" if path else str(k), field)]
    if isinstance(value, list):
        return [p for i, v in enumerate(value) for p in _variable_problems(v, f"{path}[{i}]", field)]
    if not isinstance(value, str):
        return []
    out = []
    for name in _VARIABLE.findall(value):
        if name not in VARIABLES:
            hint = f" (Stashboard's name for it is ${{{_INSTEAD[name]}}})" if name in _INSTEAD else ""
            out.append(Problem(field, path, f"unknown variable ${{{name}}}{hint}: the variables are {variable_help()}"))
    if "${" in _VARIABLE.sub("", value):
        out.append(Problem(field, path, "a '${' is not closed: write variables as ${CLUSTER_NAME}"))
    return out


def substitute(value: Any, variables: dict[str, str]) -> Any:
    if isinstance(value, dict):
        return {k: substitute(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, variables) for v in value]
    if isinstance(value, str):
        return _VARIABLE.sub(lambda m: variables.get(m[1], m[0]), value)
    return value


def render(bp: BackupBlueprint, cluster: Cluster) -> dict[str, Any]:
    """The BackupConfiguration manifest the blueprint makes for a cluster."""
    slug = bp.team.slug
    variables = {"CLUSTER_NAME": cluster.name, "TEAM": slug, "BLUEPRINT_NAME": bp.name}
    spec = substitute(dict(bp.template or {}), variables)
    spec["target"] = {"apiGroup": APPCATALOG_GROUP, "kind": "AppBinding", "name": cluster.name, "namespace": slug}
    return {"apiVersion": f"{CORE_GROUP}/{VERSION}", "kind": "BackupConfiguration",
            "metadata": {"name": substitute(bp.configuration_name, variables), "namespace": slug}, "spec": spec}


def digest(doc: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


# --- validation at save -------------------------------------------------------------------

def _shape_problems(bp: BackupBlueprint) -> list[Problem]:
    out = [Problem("selector", p, m) for p, m in selector_errors(bp.selector)]
    out += _variable_problems(bp.configuration_name, "", "configuration_name")
    if "${CLUSTER_NAME}" not in (bp.configuration_name or ""):
        out.append(Problem("configuration_name", "", "put ${CLUSTER_NAME} in the name, e.g. ${CLUSTER_NAME}-" + (bp.name or "nightly")
                           + ": each matching cluster gets its own configuration"))
    template = bp.template
    if not isinstance(template, dict):
        return out + [Problem("template", "", "the template must be a mapping with backends and sessions")]
    for key in template:
        if key == "target":
            out.append(Problem("template", "target", "remove it: the target of each configuration is the matching cluster"))
        elif key not in TEMPLATE_FIELDS:
            out.append(Problem("template", str(key), f"unknown field; the fields here are: {', '.join(TEMPLATE_FIELDS)}"))
    out += _variable_problems(template, "", "template")
    sessions = template.get("sessions")
    for i, session in enumerate(sessions if isinstance(sessions, list) else []):
        repos = session.get("repositories") if isinstance(session, dict) else None
        for j, repo in enumerate(repos if isinstance(repos, list) else []):
            for key in ("name", "directory"):
                if isinstance(repo, dict) and "${CLUSTER_NAME}" not in str(repo.get(key, "")):
                    out.append(Problem("template", f"sessions[{i}].repositories[{j}].{key}",
                                       f"put ${{CLUSTER_NAME}} in it (e.g. {_example(key)}): each cluster needs a repository "
                                       "of its own"))
    return out


def _example(key: str) -> str:
    return "${CLUSTER_NAME}-full" if key == "name" else "/es/${TEAM}/${CLUSTER_NAME}"


def _matching(bp: BackupBlueprint, clusters: list[Cluster]) -> list[Cluster]:
    return [c for c in clusters if isinstance(c.labels, dict) and matches(bp.selector, c.labels)]


def problems(bp: BackupBlueprint) -> list[Problem]:
    """Everything that stops the blueprint from being saved: its shape, its variables,
    two blueprints on one cluster, and the configuration it would give each matching
    cluster (made in a transaction that is rolled back), or a sample one."""
    found = _shape_problems(bp)
    if found or not bp.team_id:
        return found
    clusters = list(Cluster.objects.filter(team_id=bp.team_id).order_by("name"))
    matching = _matching(bp, clusters)
    others = [o for o in BackupBlueprint.objects.filter(team_id=bp.team_id).exclude(pk=bp.pk).order_by("name")
              if not selector_errors(o.selector)]
    detached = set(BackupConfiguration.objects.filter(team_id=bp.team_id, blueprint__isnull=True, blueprint_name=bp.name)
                   .values_list("target_id", flat=True)) if bp.name else set()
    matching = [c for c in matching if c.pk not in detached]  # the blueprint leaves them alone
    for cluster in matching:
        also = [o.name for o in others if matches(o.selector, cluster.labels)]
        if also:
            found.append(Problem("selector", "", f"cluster '{cluster.name}' matches blueprint '{also[0]}' too, and a cluster "
                                                 "follows one blueprint: narrow this selector, or the other one"))
    by_problem: dict[tuple[str, str, str], list[str]] = {}
    targets: list[Cluster | None] = list(matching) or [None]
    for target in targets:
        for p in _dry_run(bp, target):
            by_problem.setdefault((p.field, p.path, p.message), []).extend(p.clusters)
    return found + [Problem(*key, tuple(names)) for key, names in by_problem.items()]


def blueprint_errors(bp: BackupBlueprint) -> dict[str, list[str]]:
    """problems() as BackupBlueprint.clean() raises them, by model field."""
    out: dict[str, list[str]] = {}
    for p in problems(bp):
        out.setdefault(p.field, []).append(p.text()[:1].upper() + p.text()[1:])
    return out


class _RolledBack(Exception):
    pass


def _dry_run(bp: BackupBlueprint, cluster: Cluster | None) -> list[Problem]:
    for_whom = (cluster.name,) if cluster is not None else ()
    try:
        with transaction.atomic():
            if cluster is None:  # nothing matches yet: a sample cluster, gone with the rollback
                cluster = Cluster.objects.create(team=bp.team, name=_free_name(bp.team), urls="http://example.invalid:9200")
            _realize(bp, cluster, _made_for(bp, cluster) if bp.pk else None, dry_run=True)
            raise _RolledBack
    except _RolledBack:
        return []
    except ManifestError as e:
        p = _problem(e)
        return [Problem(p.field, p.path, p.message, for_whom)]


def _free_name(team: Team) -> str:
    taken = set(Cluster.objects.filter(team=team, name__startswith="example-cluster").values_list("name", flat=True))
    return next(n for n in (f"example-cluster{'-' + str(i) if i else ''}" for i in range(len(taken) + 1)) if n not in taken)


def _problem(e: ManifestError) -> Problem:
    """A rendered manifest's error, at the blueprint's field it comes from."""
    if e.path.startswith("metadata.name"):
        return Problem("configuration_name", "", e.message)
    if e.path.startswith("spec."):
        return Problem("template", e.path[len("spec."):], e.message)
    return Problem("template", "" if e.path == "spec" else e.path, e.message)


def cluster_conflict(cluster: Cluster) -> str | None:
    """Cluster.clean(): labels that two of the team's blueprints select."""
    names = [bp.name for bp in BackupBlueprint.objects.filter(team_id=cluster.team_id).exclude(selector={}).order_by("name")
             if not selector_errors(bp.selector) and matches(bp.selector, cluster.labels)]
    if len(names) < 2:
        return None
    return (f"These labels match blueprints {', '.join(repr(n) for n in names)}, and a cluster follows one blueprint: "
            "change a label, or one of their selectors.")


# --- making and updating the configurations -----------------------------------------------

def _made_for(bp: BackupBlueprint, cluster: Cluster) -> BackupConfiguration | None:
    return BackupConfiguration.objects.filter(team_id=bp.team_id, blueprint=bp, target=cluster).order_by("pk").first()


def _ownership(bp: BackupBlueprint, doc: dict[str, Any], config: BackupConfiguration | None) -> None:
    """Refuse to take over what is not the blueprint's: a configuration or repository of
    that name, or a directory another repository uses; nor move a repository's snapshots."""
    team, name = bp.team, doc["metadata"]["name"]
    other = BackupConfiguration.objects.filter(team=team, name=name).first()
    if other is not None and (config is None or other.pk != config.pk):
        raise ManifestError("metadata.name", f"configuration '{name}' exists already and is not made from blueprint '{bp.name}' "
                                             "for this cluster: rename that one, or change the configuration name")
    spec = doc["spec"]
    storages = {b.get("name"): _ref_name(b.get("storageRef")) for b in _items(spec.get("backends"))}
    own = set(Repository.objects.filter(session_configs__configuration=config).values_list("pk", flat=True)) if config else set()
    for i, session in enumerate(_items(spec.get("sessions"))):
        for j, rdoc in enumerate(_items(session.get("repositories"))):
            if not isinstance(rdoc.get("name"), str):
                continue
            path = f"spec.sessions[{i}].repositories[{j}]"
            repo = Repository.objects.filter(team=team, name=rdoc["name"]).first()
            directory = normalize_directory(str(rdoc.get("directory") or ""))
            # A repository no configuration uses, at the very place the template names, is
            # the same one (an export applied again, a configuration deleted): it is taken.
            unused_here = repo is not None and not repo.session_configs.exists() and repo.directory == directory \
                and repo.storage.name == storages.get(rdoc.get("backend"))
            if repo is not None and repo.pk not in own and not unused_here:
                raise ManifestError(f"{path}.name", f"repository '{repo.name}' exists already and is not this configuration's: "
                                                    "choose another name (e.g. with ${CLUSTER_NAME} and ${BLUEPRINT_NAME})")
            if repo is not None and repo.repository_id and repo.directory != directory:
                raise ManifestError(f"{path}.directory", f"repository '{repo.name}' holds its snapshots in '{repo.directory}': "
                                                         "a new directory would leave them behind; give the repository a new "
                                                         "name as well")
            clash = Repository.objects.filter(team=team, storage__name=storages.get(rdoc.get("backend")),
                                              directory=directory).exclude(name=rdoc["name"]).first()
            if clash is not None:
                raise ManifestError(f"{path}.directory", f"repository '{clash.name}' uses directory '{directory}' in that storage "
                                                         "already: put ${CLUSTER_NAME} in the directory")


def _items(value: Any) -> list[dict[str, Any]]:
    """The mappings of a list in a rendered manifest (its shape is checked when it is written)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _ref_name(ref: Any) -> Any:
    return ref.get("name") if isinstance(ref, dict) else None


def _realize(bp: BackupBlueprint, cluster: Cluster, config: BackupConfiguration | None, dry_run: bool = False) -> str | None:
    """Make or update the cluster's configuration from the blueprint; None: it is up to date."""
    from backups import flows
    from backups.serializers import write_configuration

    doc = render(bp, cluster)
    rendered = digest(doc)
    if config is not None and config.blueprint_hash == rendered and not config.blueprint_paused and not dry_run:
        if config.blueprint_name != bp.name:  # the blueprint was renamed; the template did not use its name
            BackupConfiguration.objects.filter(pk=config.pk).update(blueprint_name=bp.name)
        return None
    _ownership(bp, doc, config)
    name = doc["metadata"]["name"]
    if config is not None and config.name != name:
        BackupConfiguration.objects.filter(pk=config.pk).update(name=name)
    root = Node(doc, "")
    meta = root.node("metadata")
    assert meta is not None
    obj = write_configuration(root, bp.team, meta, name, None)
    if dry_run:
        return "checked"
    BackupConfiguration.objects.filter(pk=obj.pk).update(blueprint=bp, blueprint_name=bp.name, blueprint_hash=rendered,
                                                         blueprint_paused=False)
    flows.configuration_saved(obj)
    what = "created" if config is None else ("resumed" if config.blueprint_paused else "updated")
    audit.record(Actor.system(f"blueprint {bp.name}"), bp.team, Action.CREATED if config is None else Action.CHANGED, obj,
                 details={"blueprint": bp.name, "cluster": cluster.name, "reconcile": what})
    return f"{what} {bp.team.slug}/{name} from blueprint {bp.name}"


def _winners(blueprints: list[BackupBlueprint], clusters: list[Cluster], made: list[BackupConfiguration]
             ) -> tuple[dict[int, BackupBlueprint], dict[int, dict[str, str]]]:
    """Per cluster pk, the blueprint it follows; per blueprint pk, what it says of the others."""
    following = {(c.blueprint_id, c.target_id) for c in made if c.blueprint_id}
    detached = {(c.blueprint_name, c.target_id) for c in made if c.blueprint_id is None}
    chosen: dict[int, BackupBlueprint] = {}
    notes: dict[int, dict[str, str]] = {bp.pk: {} for bp in blueprints}
    for cluster in clusters:
        candidates = [bp for bp in blueprints if (bp.name, cluster.pk) not in detached and matches(bp.selector, cluster.labels)]
        if not candidates:
            continue
        winner = next((bp for bp in candidates if (bp.pk, cluster.pk) in following), candidates[0])
        chosen[cluster.pk] = winner
        for bp in candidates:
            if bp is not winner:
                notes[bp.pk][cluster.name] = (f"also matched by blueprint '{winner.name}', which it follows: a cluster follows "
                                              "one blueprint; narrow one of the selectors")
    return chosen, notes


def reconcile(team: Team) -> list[str]:
    """Bring the team's blueprint-made configurations in line (see the module's rules).
    Returns what it did."""
    out: list[str] = []
    with transaction.atomic():
        Team.objects.select_for_update().filter(pk=team.pk).first()  # one reconcile of a team at a time
        blueprints = [bp for bp in BackupBlueprint.objects.filter(team=team).select_related("team").order_by("name")
                      if not selector_errors(bp.selector)]
        clusters = list(Cluster.objects.filter(team=team).order_by("name"))
        made = list(BackupConfiguration.objects.filter(team=team).exclude(blueprint_name=""))
        chosen, notes = _winners(blueprints, clusters, made)
        by_pk = {c.pk: c for c in clusters}
        for cluster_pk, bp in chosen.items():
            cluster = by_pk[cluster_pk]
            try:
                with transaction.atomic():
                    done = _realize(bp, cluster, _made_for(bp, cluster))
            except (ManifestError, IntegrityError) as e:
                notes[bp.pk][cluster.name] = _problem(e).text() if isinstance(e, ManifestError) else f"changed meanwhile: {e}"
                continue
            if done:
                out.append(done)
        out += _pause_unmatched(team, made, chosen)
        for bp in blueprints:
            if bp.problems != notes[bp.pk]:
                BackupBlueprint.objects.filter(pk=bp.pk).update(problems=notes[bp.pk])
    return out


def _pause_unmatched(team: Team, made: list[BackupConfiguration], chosen: dict[int, BackupBlueprint]) -> list[str]:
    out = []
    for config in made:
        if config.blueprint_id is None or config.blueprint_paused:
            continue
        winner = chosen.get(config.target_id)
        if winner is not None and winner.pk == config.blueprint_id:
            continue
        BackupConfiguration.objects.filter(pk=config.pk).update(paused=True, blueprint_paused=True)
        audit.record(Actor.system(f"blueprint {config.blueprint_name}"), team, Action.CHANGED, config, fields=["paused"],
                     details={"blueprint": config.blueprint_name, "reconcile": "paused: the cluster no longer matches"})
        out.append(f"paused {team.slug}/{config.name}: its cluster no longer matches blueprint {config.blueprint_name}")
    return out


def reconcile_all() -> list[str]:
    """The scheduler's safety net: every team that has blueprints or made configurations."""
    out: list[str] = []
    team_ids = set(BackupBlueprint.objects.values_list("team_id", flat=True)) | set(
        BackupConfiguration.objects.filter(blueprint__isnull=False).values_list("team_id", flat=True))
    for team in Team.objects.filter(pk__in=team_ids).order_by("slug"):
        try:
            out += reconcile(team)
        except Exception as e:  # one team's broken row must not stop the others'
            log.exception("reconciling the blueprints of %s failed", team.slug)
            out.append(f"error reconciling blueprints of {team.slug}: {type(e).__name__}: {e}")
    return out


def detach(config: BackupConfiguration, actor: Any) -> None:
    """The configuration becomes its users' own: its blueprint no longer changes or pauses
    it (nor makes another one for its cluster). `actor` (None: the caller records it) goes
    to the audit log."""
    BackupConfiguration.objects.filter(pk=config.pk).update(blueprint=None, blueprint_hash="", blueprint_paused=False)
    if actor is not None:
        audit.record(actor, config.team, Action.CHANGED, config, fields=["blueprint"],
                     details={"detached_from": config.blueprint_name})
    config.refresh_from_db()


# --- what the pages show ------------------------------------------------------------------

@dataclass(frozen=True)
class PreviewRow:
    cluster: Cluster
    state: str  # Following, Paused, Detached, Conflict, Problem, Pending
    configuration: BackupConfiguration | None
    note: str


def preview(bp: BackupBlueprint) -> list[PreviewRow]:
    """Per cluster of the team that the blueprint selects or made a configuration for:
    what it has from the blueprint. Works on an unsaved blueprint (the form's live preview)."""
    selector_ok = not selector_errors(bp.selector)
    clusters = list(Cluster.objects.filter(team_id=bp.team_id).order_by("name"))
    made: dict[int, BackupConfiguration] = {}
    if bp.pk:
        qs = BackupConfiguration.objects.filter(team_id=bp.team_id).filter(
            Q(blueprint=bp) | Q(blueprint__isnull=True, blueprint_name=bp.name))
        made = {c.target_id: c for c in qs.select_related("target").order_by("pk")}
    others = [o for o in BackupBlueprint.objects.filter(team_id=bp.team_id).exclude(pk=bp.pk).order_by("name")
              if not selector_errors(o.selector)]
    rows = []
    for cluster in clusters:
        matched = selector_ok and matches(bp.selector, cluster.labels or {})
        config = made.get(cluster.pk)
        if not matched and config is None:
            continue
        rows.append(_row(bp, cluster, config, matched, [o.name for o in others if matches(o.selector, cluster.labels or {})]))
    return rows


def _row(bp: BackupBlueprint, cluster: Cluster, config: BackupConfiguration | None, matched: bool, also: list[str]) -> PreviewRow:
    problem = (bp.problems or {}).get(cluster.name, "") if bp.pk else ""
    if config is not None and config.blueprint_id is None:
        return PreviewRow(cluster, "Detached", config, "its own configuration now: the blueprint leaves this cluster alone")
    if config is not None and not matched:
        return PreviewRow(cluster, "Paused", config, "its labels no longer match: paused, its snapshots are kept; it resumes "
                                                     "if they match again" if bp.pk else "its labels would no longer match: it "
                                                     "would be paused")
    if also and (config is None):
        return PreviewRow(cluster, "Conflict", None, f"also matched by blueprint '{also[0]}': a cluster follows one blueprint")
    if problem:
        return PreviewRow(cluster, "Problem", config, problem)
    if config is not None:
        return PreviewRow(cluster, "Following", config, "paused by the template" if config.paused else "")
    return PreviewRow(cluster, "Pending", None, "gets its configuration when the blueprint is saved" if not bp.pk
                      else "gets its configuration at the next reconcile")
