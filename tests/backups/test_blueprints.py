"""BackupBlueprint: labels, selectors, variables, validation at save, and the reconcile
rules of backups/blueprints.py (match, update, detach, unmatch → paused, re-match →
resumed, two blueprints, deletion, tenancy), the YAML round trip."""
from __future__ import annotations

import io

import pytest
import yaml
from django.core.exceptions import ValidationError
from django.core.management import call_command

from audit.models import Entry
from backups import blueprints
from backups.labels import format_selector, matches, parse_selector, selector_errors
from backups.models import BackupBlueprint, BackupConfiguration, Cluster
from dashboard import resources
from storage.models import BackupStorage, Repository, Secret
from tenancy.manifests import ManifestError
from tenancy.models import Team
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(teams, settings, tmp_path):
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    a, b = teams["a"], teams["b"]
    f.secret(a, "repo-key")
    f.storage(a, "local")
    f.retention(a, "keep-5")
    gold1 = f.cluster(a, "es-1", labels={"backup": "gold", "env": "prod"})
    gold2 = f.cluster(a, "es-2", labels={"backup": "gold", "env": "test"})
    plain = f.cluster(a, "es-3")
    # team B has a cluster with the very same labels, and a storage/secret of the same names
    f.secret(b, "repo-key")
    f.storage(b, "local")
    theirs = f.cluster(b, "es-1", labels={"backup": "gold", "env": "prod"})
    return {**teams, "gold1": gold1, "gold2": gold2, "plain": plain, "theirs": theirs}


def made(team: Team) -> dict[str, BackupConfiguration]:
    return {c.target.name: c for c in BackupConfiguration.objects.filter(team=team).select_related("target", "blueprint")}


# --- labels and selectors -------------------------------------------------------------

def test_labels_are_validated_like_kubernetes_labels_with_what_to_fix(world):
    cluster = world["plain"]
    for labels, words in [({"Bad Key": "x"}, "use letters, digits"), ({"env": "-prod"}, "may only hold"),
                          ({"Example.com/tier": "a"}, "DNS subdomain"), ({"env": "x" * 64}, "at most 63"),
                          ({"/tier": "a"}, "empty prefix"), ({"env": 3}, "must be a string")]:
        cluster.labels = labels
        with pytest.raises(ValidationError) as e:
            cluster.full_clean()
        assert words in " ".join(e.value.message_dict["labels"]), labels
    cluster.labels = {"example.com/tier": "gold", "env": "", "a_b.c-d": "X_y.z-1"}
    cluster.full_clean()


def test_selectors_match_as_kubernetes_does():
    labels = {"env": "prod", "tier": "gold"}
    assert matches({"matchLabels": {"env": "prod"}}, labels)
    assert not matches({"matchLabels": {"env": "prod", "tier": "silver"}}, labels)
    assert matches({"matchExpressions": [{"key": "tier", "operator": "In", "values": ["gold", "silver"]}]}, labels)
    assert not matches({"matchExpressions": [{"key": "tier", "operator": "NotIn", "values": ["gold"]}]}, labels)
    assert matches({"matchExpressions": [{"key": "zone", "operator": "NotIn", "values": ["a"]}]}, labels)
    assert matches({"matchExpressions": [{"key": "env", "operator": "Exists"}]}, labels)
    assert not matches({"matchExpressions": [{"key": "env", "operator": "DoesNotExist"}]}, labels)
    assert not matches({"matchExpressions": [{"key": "zone", "operator": "In", "values": ["a"]}]}, labels)


def test_selector_errors_say_what_to_fix():
    assert "would match every cluster" in selector_errors({})[0][1]
    assert selector_errors({"matchExpressions": [{"key": "tier", "operator": "In"}]}) == [
        ("matchExpressions[0].values", "In needs at least one value, e.g. values: [gold]")]
    assert "takes no values" in selector_errors({"matchExpressions": [{"key": "t", "operator": "Exists", "values": ["a"]}]})[0][1]
    assert "use In, NotIn, Exists or DoesNotExist" in selector_errors(
        {"matchExpressions": [{"key": "t", "operator": "Equals", "values": ["a"]}]})[0][1]
    assert selector_errors({"matchLabels": {"env": "prod"}, "labels": {}})[0][0] == "labels"


def test_the_kubectl_syntax_reads_and_writes_every_operator():
    text = "env=prod, tier in (gold,silver), zone notin (a), backup, !legacy, team!=b"
    selector = parse_selector(text)
    assert selector == {"matchLabels": {"env": "prod"}, "matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["gold", "silver"]},
        {"key": "zone", "operator": "NotIn", "values": ["a"]},
        {"key": "backup", "operator": "Exists"}, {"key": "legacy", "operator": "DoesNotExist"},
        {"key": "team", "operator": "NotIn", "values": ["b"]}]}
    assert parse_selector(format_selector(selector)) == selector
    with pytest.raises(ValidationError, match="is not a selector term"):
        parse_selector("tier in gold")


# --- validation at save ---------------------------------------------------------------

def test_an_unknown_variable_is_refused_naming_the_field_and_the_variables(world):
    template = f.blueprint_template()
    template["sessions"][0]["repositories"][0]["directory"] = "/es/${CLUSTER_NAMESPACE}/${CLUSTER_NAME}"
    bp = BackupBlueprint(team=world["a"], name="gold", selector={"matchLabels": {"backup": "gold"}}, template=template)
    with pytest.raises(ValidationError) as e:
        bp.full_clean()
    message = e.value.message_dict["template"][0]
    assert message.startswith("Sessions[0].repositories[0].directory: unknown variable ${CLUSTER_NAMESPACE}")
    assert "${TEAM}" in message and "${CLUSTER_NAME}" in message


def test_a_template_that_gives_an_invalid_configuration_is_refused_at_save(world):
    cases = [
        (lambda t: t["sessions"][0]["scheduler"].update(schedule="0 2 * *"), "sessions[0].scheduler.schedule"),
        (lambda t: t["backends"][0]["storageRef"].update(name="nowhere"), "BackupStorage 'nowhere' not found"),
        (lambda t: t["sessions"][0]["repositories"][0].update(name="shared"), "put ${CLUSTER_NAME} in it"),
        (lambda t: t["sessions"][0].update(addon={"name": "elasticsearch-addon", "tasks": [
            {"name": "logical-backup", "params": {"slices": 0}}]}), "sessions[0].addon.tasks[0].params"),
        (lambda t: t.update(target={"name": "es-1"}), "Target: remove it"),
    ]
    for change, words in cases:
        template = f.blueprint_template()
        change(template)
        bp = BackupBlueprint(team=world["a"], name="gold", selector={"matchLabels": {"backup": "gold"}}, template=template)
        with pytest.raises(ValidationError) as e:
            bp.full_clean()
        assert words in " ".join(e.value.message_dict["template"]), (words, e.value.message_dict)
    assert not BackupConfiguration.objects.exists() and not Repository.objects.exists()  # the dry runs left nothing


def test_a_template_is_checked_on_a_sample_cluster_when_none_matches(world):
    template = f.blueprint_template(schedule="61 * * * *")
    bp = BackupBlueprint(team=world["a"], name="none", selector={"matchLabels": {"backup": "nobody"}}, template=template)
    with pytest.raises(ValidationError, match="schedule"):
        bp.full_clean()
    assert not Cluster.objects.filter(name__startswith="example-cluster").exists()


def test_the_configuration_name_needs_the_cluster_name(world):
    bp = BackupBlueprint(team=world["a"], name="gold", selector={"matchLabels": {"backup": "gold"}},
                         template=f.blueprint_template(), configuration_name="nightly")
    with pytest.raises(ValidationError) as e:
        bp.full_clean()
    assert "Put ${CLUSTER_NAME} in the name" in e.value.message_dict["configuration_name"][0]


def test_a_name_a_user_already_took_is_refused_at_save_for_that_cluster(world):
    f.configuration(world["a"], "es-1-gold", target=world["plain"], repositories=[])
    bp = BackupBlueprint(team=world["a"], name="gold", selector={"matchLabels": {"backup": "gold"}}, template=f.blueprint_template())
    with pytest.raises(ValidationError) as e:
        bp.full_clean()
    assert e.value.message_dict["configuration_name"] == [
        "For cluster 'es-1': configuration 'es-1-gold' exists already and is not made from blueprint 'gold' for this "
        "cluster: rename that one, or change the configuration name"]


# --- reconcile ------------------------------------------------------------------------

def test_a_matching_cluster_gets_a_configuration_made_from_the_blueprint(world):
    bp = f.blueprint(world["a"], "gold", template=f.blueprint_template(retention_name="keep-5",
                                                                         addon={"name": "elasticsearch-addon", "tasks": [
                                                                             {"name": "logical-backup",
                                                                              "params": {"indices": "logs-*"}}]}))
    out = blueprints.reconcile(world["a"])
    assert sorted(out) == ["created team-a/es-1-gold from blueprint gold", "created team-a/es-2-gold from blueprint gold"]
    configs = made(world["a"])
    assert set(configs) == {"es-1", "es-2"}  # es-3 has no labels
    config = configs["es-1"]
    assert (config.name, config.team, config.blueprint, config.blueprint_name, config.paused) == \
        ("es-1-gold", world["a"], bp, "gold", False)
    session = config.sessions.get()
    repo = session.repositories.get()
    assert (repo.name, repo.directory, repo.storage.name) == ("es-1-full", "es/team-a/es-1", "local")
    assert session.retention_policy.name == "keep-5" and session.task_params == {"indices": "logs-*"}
    assert Entry.objects.filter(actor="blueprint gold", target_name="es-1-gold", action="created").exists()


def test_reconcile_is_idempotent(world):
    f.blueprint(world["a"], "gold")
    assert len(blueprints.reconcile(world["a"])) == 2
    before = {(c.pk, c.blueprint_hash) for c in BackupConfiguration.objects.all()}
    assert blueprints.reconcile(world["a"]) == []
    assert blueprints.reconcile_all() == []
    assert {(c.pk, c.blueprint_hash) for c in BackupConfiguration.objects.all()} == before
    assert Repository.objects.filter(team=world["a"]).count() == 2


def test_a_blueprint_of_team_a_never_touches_team_bs_clusters(world):
    f.blueprint(world["a"], "gold")
    blueprints.reconcile_all()
    assert not BackupConfiguration.objects.filter(team=world["b"]).exists()
    assert not BackupConfiguration.objects.filter(target=world["theirs"]).exists()
    # and team B's own blueprint of the same name makes team B's configuration only
    f.blueprint(world["b"], "gold")
    blueprints.reconcile(world["b"])
    assert list(BackupConfiguration.objects.filter(team=world["b"]).values_list("target__name", flat=True)) == ["es-1"]
    assert BackupConfiguration.objects.filter(team=world["a"]).count() == 2


def test_a_blueprint_change_updates_every_configuration_but_a_detached_one(world):
    bp = f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    blueprints.detach(made(world["a"])["es-2"], "test")
    bp.template = f.blueprint_template(schedule="30 4 * * *")
    bp.full_clean()
    bp.save()
    assert blueprints.reconcile(world["a"]) == ["updated team-a/es-1-gold from blueprint gold"]
    configs = made(world["a"])
    assert configs["es-1"].sessions.get().schedule == "30 4 * * *"
    assert configs["es-2"].sessions.get().schedule == "0 2 * * *"
    assert configs["es-2"].blueprint is None and configs["es-2"].blueprint_name == "gold"
    # the detached one's cluster still matches, and gets no second configuration
    assert BackupConfiguration.objects.filter(target=world["gold2"]).count() == 1
    assert blueprints.reconcile(world["a"]) == []


def test_a_cluster_that_stops_matching_is_paused_keeping_its_snapshots_and_resumes_when_it_matches_again(world):
    f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    config = made(world["a"])["es-1"]
    repo = config.sessions.get().repositories.get()
    snap = f.snapshot(f.backup_session(config, phase="Succeeded"), repo, phase="Succeeded")
    world["gold1"].labels = {"backup": "silver"}
    world["gold1"].save()
    assert blueprints.reconcile(world["a"]) == ["paused team-a/es-1-gold: its cluster no longer matches blueprint gold"]
    config.refresh_from_db()
    assert (config.paused, config.blueprint_paused, config.blueprint_id is not None) == (True, True, True)
    assert Repository.objects.filter(pk=repo.pk).exists() and snap.__class__.objects.filter(pk=snap.pk).exists()
    assert blueprints.reconcile(world["a"]) == []  # paused once
    world["gold1"].labels = {"backup": "gold"}
    world["gold1"].save()
    assert blueprints.reconcile(world["a"]) == ["resumed team-a/es-1-gold from blueprint gold"]
    config.refresh_from_db()
    assert (config.paused, config.blueprint_paused) == (False, False)


def test_a_selector_change_pauses_what_it_no_longer_selects(world):
    bp = f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    bp.selector = {"matchLabels": {"backup": "gold"}, "matchExpressions": [{"key": "env", "operator": "In", "values": ["prod"]}]}
    bp.full_clean()
    bp.save()
    assert blueprints.reconcile(world["a"]) == ["paused team-a/es-2-gold: its cluster no longer matches blueprint gold"]
    assert not made(world["a"])["es-1"].paused


def test_a_deleted_blueprint_pauses_its_configurations_and_leaves_them_to_their_users(world):
    bp = f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    bp.delete()
    for config in made(world["a"]).values():
        assert (config.paused, config.blueprint_paused, config.blueprint, config.blueprint_name) == (True, True, None, "gold")
    assert Repository.objects.filter(team=world["a"]).count() == 2
    assert blueprints.reconcile(world["a"]) == []


def test_two_blueprints_on_one_cluster_are_refused_at_save_from_either_side(world):
    f.blueprint(world["a"], "gold")
    prod = BackupBlueprint(team=world["a"], name="prod", selector={"matchLabels": {"env": "prod"}},
                           template=f.blueprint_template(), configuration_name="${CLUSTER_NAME}-prod")
    with pytest.raises(ValidationError) as e:
        prod.full_clean()
    assert "Cluster 'es-1' matches blueprint 'gold' too" in e.value.message_dict["selector"][0]
    f.blueprint(world["a"], "silver")
    cluster = world["plain"]
    cluster.labels = {"backup": "gold"}
    cluster.full_clean()
    prod.selector = {"matchLabels": {"env": "staging"}}
    prod.full_clean()
    prod.save()
    cluster.labels = {"backup": "gold", "env": "staging"}
    with pytest.raises(ValidationError) as e:
        cluster.full_clean()
    assert e.value.message_dict["labels"] == ["These labels match blueprints 'gold', 'prod', and a cluster follows one "
                                              "blueprint: change a label, or one of their selectors."]


def test_when_two_blueprints_match_anyway_the_one_that_made_the_configuration_keeps_it(world):
    f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    # saved around validation (e.g. an old database): both select es-1
    BackupBlueprint.objects.create(team=world["a"], name="alpha", selector={"matchLabels": {"env": "prod"}},
                                   template=f.blueprint_template(), configuration_name="${CLUSTER_NAME}-alpha")
    blueprints.reconcile(world["a"])
    assert list(BackupConfiguration.objects.filter(target=world["gold1"]).values_list("name", flat=True)) == ["es-1-gold"]
    alpha = BackupBlueprint.objects.get(name="alpha")
    assert "also matched by blueprint 'gold', which it follows" in alpha.problems["es-1"]
    assert [r.state for r in blueprints.preview(alpha)] == ["Conflict"]


def test_a_problem_with_one_cluster_is_shown_and_the_others_go_on(world):
    bp = f.blueprint(world["a"], "gold")
    Repository.objects.create(team=world["a"], name="es-2-full", storage=BackupStorage.objects.get(team=world["a"], name="local"),
                              directory="elsewhere", encryption_secret=Secret.objects.get(team=world["a"], name="repo-key"))
    blueprints.reconcile(world["a"])
    bp.refresh_from_db()
    assert set(made(world["a"])) == {"es-1"}
    assert bp.problems["es-2"].startswith("sessions[0].repositories[0].name: repository 'es-2-full' exists already")
    states = {r.cluster.name: r.state for r in blueprints.preview(bp)}
    assert states == {"es-1": "Following", "es-2": "Problem"}


def test_a_following_configuration_is_changed_through_its_blueprint_only(world):
    f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    doc = resources.to_manifest(resources.BY_KIND["BackupConfiguration"], made(world["a"])["es-1"])
    assert doc["metadata"]["annotations"] == {"blueprint.stashboard.io/name": "gold"}
    assert resources.apply([doc]) == ["BackupConfiguration team-a/es-1-gold configured"]  # unchanged: fine
    doc["spec"]["paused"] = True
    with pytest.raises(ManifestError, match="is made from blueprint 'gold' and follows it: change the blueprint instead"):
        resources.apply([doc])


# --- YAML ------------------------------------------------------------------------------

def test_blueprints_labels_and_links_survive_an_export_and_apply_round_trip(world, tmp_path):
    f.blueprint(world["a"], "gold", template=f.blueprint_template(hooks={"preBackup": [
        {"name": "flush", "kind": "elasticsearch", "method": "POST", "path": "_flush"}]}))
    blueprints.reconcile(world["a"])
    blueprints.detach(made(world["a"])["es-2"], "test")
    out = io.StringIO()
    call_command("export", "--team", "team-a", "--include-secret-values", stdout=out)
    first = out.getvalue()
    docs = list(yaml.safe_load_all(first))
    bp_doc = next(d for d in docs if d["kind"] == "BackupBlueprint")
    assert bp_doc["apiVersion"] == "core.kubestash.com/v1alpha1"
    assert bp_doc["spec"]["selector"] == {"matchLabels": {"backup": "gold"}}
    assert bp_doc["spec"]["configurationName"] == "${CLUSTER_NAME}-${BLUEPRINT_NAME}"
    assert bp_doc["status"]["configurations"] == [{"name": "es-1-gold", "cluster": "es-1"}]
    app = next(d for d in docs if d["kind"] == "AppBinding" and d["metadata"]["name"] == "es-1")
    assert app["metadata"]["labels"] == {"backup": "gold", "env": "prod"}
    Team.objects.filter(slug="team-a").delete()
    (tmp_path / "a.yaml").write_text(first)
    call_command("apply", "-f", str(tmp_path / "a.yaml"), stdout=io.StringIO())
    again = io.StringIO()
    call_command("export", "--team", "team-a", "--include-secret-values", stdout=again)
    assert again.getvalue() == first
    configs = made(Team.objects.get(slug="team-a"))
    assert configs["es-1"].blueprint.name == "gold" and configs["es-2"].blueprint is None
    assert configs["es-2"].blueprint_name == "gold"


def test_yaml_errors_name_the_blueprint_field(world):
    doc = {"apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupBlueprint",
           "metadata": {"name": "gold", "namespace": "team-a"},
           "spec": {"selector": {"matchExpressions": [{"key": "tier", "operator": "In"}]},
                    "backupConfigurationTemplate": f.blueprint_template()}}
    with pytest.raises(ManifestError) as e:
        resources.apply([doc])
    assert e.value.path == "doc 1 (BackupBlueprint team-a/gold): spec.selector.matchExpressions[0].values"
    doc["spec"]["selector"] = {"matchLabels": {"backup": "gold"}}
    doc["spec"]["backupConfigurationTemplate"]["sessions"][0]["repositories"][0]["name"] = "${CLUSTER}-full"
    with pytest.raises(ManifestError) as e:
        resources.apply([doc])
    assert e.value.path.endswith("spec.backupConfigurationTemplate.sessions[0].repositories[0].name")
    assert "unknown variable ${CLUSTER} (Stashboard's name for it is ${CLUSTER_NAME})" in e.value.message
    label_doc = resources.to_manifest(resources.BY_KIND["AppBinding"], world["plain"])
    label_doc["metadata"]["labels"] = {"Bad Key": "x"}
    with pytest.raises(ManifestError) as e:
        resources.apply([label_doc])
    assert e.value.path.endswith("metadata.labels") and "use letters, digits" in e.value.message


def test_applying_a_labelled_cluster_reconciles_at_once(world):
    f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    doc = resources.to_manifest(resources.BY_KIND["AppBinding"], world["plain"])
    doc["metadata"]["labels"] = {"backup": "gold"}
    resources.apply([doc])
    assert made(world["a"])["es-3"].name == "es-3-gold"
