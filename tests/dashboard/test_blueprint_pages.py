"""The blueprint pages, cluster labels in the cluster form, and detaching a
configuration: tried by alice (owner of team A), bob (viewer in A) and charlie (team B)."""
from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.test import Client
from django.urls import reverse

from audit.models import Entry
from backups import blueprints
from backups.models import BackupBlueprint, BackupConfiguration
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(world: dict[str, Any]) -> dict[str, Any]:
    """Team A's cluster es labelled backup=gold and a blueprint gold that made its configuration."""
    cluster = world["cluster"]
    cluster.labels = {"backup": "gold"}
    cluster.save()
    bp = f.blueprint(world["a"], "gold")
    blueprints.reconcile(world["a"])
    made = BackupConfiguration.objects.get(blueprint=bp)
    return {**world, "blueprint": bp, "made": made}


def _form(selector: str = "backup=gold", template: dict[str, Any] | None = None, name: str = "gold") -> dict[str, str]:
    return {"name": name, "selector": selector, "configuration_name": "${CLUSTER_NAME}-${BLUEPRINT_NAME}",
            "template": yaml.safe_dump(template or f.blueprint_template())}


def test_members_read_the_blueprint_pages_and_other_teams_get_404(labelled, alice: Client, bob: Client, charlie: Client):
    bp = labelled["blueprint"]
    for url in (reverse("backups:blueprint-detail", args=[bp.uuid]), reverse("backups:blueprint-edit", args=[bp.uuid]),
                reverse("backups:blueprint-delete", args=[bp.uuid])):
        assert charlie.get(url).status_code == 404, url
    page = alice.get(reverse("backups:blueprint-detail", args=[bp.uuid]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "es-gold" in text and "Following" in text and "backup=gold" in text
    assert bob.get(reverse("backups:blueprint-detail", args=[bp.uuid])).status_code == 200
    assert list(alice.get(reverse("backups:blueprint-list")).context["blueprints"]) == [bp]
    assert list(bob.get(reverse("backups:blueprint-list")).context["blueprints"]) == [bp]
    assert list(charlie.get(reverse("backups:blueprint-list")).context["blueprints"]) == []


def test_viewers_and_other_teams_cannot_change_blueprints(labelled, bob: Client, charlie: Client):
    bp = labelled["blueprint"]
    assert bob.get(reverse("backups:blueprint-new")).status_code == 403
    assert bob.get(reverse("backups:blueprint-edit", args=[bp.uuid])).status_code == 403
    assert bob.post(reverse("backups:blueprint-delete", args=[bp.uuid])).status_code == 403
    assert bob.post(reverse("backups:configuration-detach", args=[labelled["made"].uuid])).status_code == 403
    assert charlie.post(reverse("backups:configuration-detach", args=[labelled["made"].uuid])).status_code == 404
    assert charlie.post(reverse("backups:blueprint-delete", args=[bp.uuid])).status_code == 404
    assert BackupBlueprint.objects.filter(pk=bp.pk).exists()
    assert BackupConfiguration.objects.get(pk=labelled["made"].pk).blueprint_id == bp.pk


def test_the_live_preview_shows_only_the_teams_own_matching_clusters(labelled, alice: Client, charlie: Client):
    f.cluster(labelled["b"], "theirs", labels={"backup": "gold"})
    page = alice.get(reverse("backups:blueprint-preview"), {"selector": "backup=gold", "name": "other"})
    text = page.content.decode()
    assert page.status_code == 200 and ">es<" in text and "theirs" not in text
    assert "also matched by blueprint &#x27;gold&#x27;" in text or "also matched by blueprint 'gold'" in text
    theirs = charlie.get(reverse("backups:blueprint-preview"), {"selector": "backup=gold"}).content.decode()
    assert "theirs" in theirs and ">es<" not in theirs
    bad = alice.get(reverse("backups:blueprint-preview"), {"selector": "tier in gold"}).content.decode()
    assert "is not a selector term" in bad
    assert charlie.get(reverse("backups:blueprint-preview"), {"blueprint": str(labelled["blueprint"].uuid),
                                                            "selector": "backup=gold"}).status_code == 404


def test_a_blueprint_made_in_the_form_makes_the_configuration_and_is_audited(world, alice: Client):
    cluster = world["cluster"]
    cluster.labels = {"backup": "gold"}
    cluster.save()
    page = alice.get(reverse("backups:blueprint-new"))
    assert page.status_code == 200 and "${CLUSTER_NAME}-full" in page.content.decode()  # the example template
    response = alice.post(reverse("backups:blueprint-new"), _form())
    assert response.status_code == 302, response.content.decode()[:3000]
    bp = BackupBlueprint.objects.get(team=world["a"], name="gold")
    assert bp.selector == {"matchLabels": {"backup": "gold"}}
    made = BackupConfiguration.objects.get(blueprint=bp)
    assert (made.name, made.target) == ("es-gold", cluster)
    assert Entry.objects.filter(action="created", target_kind="BackupBlueprint", target_name="gold", actor="alice").exists()


def test_form_errors_name_the_field_and_keep_what_was_typed(world, alice: Client):
    template = f.blueprint_template()
    template["sessions"][0]["repositories"][0]["directory"] = "/es/${CLUSTER_NAMESPACE}"
    response = alice.post(reverse("backups:blueprint-new"), _form(template=template))
    assert response.status_code == 400
    form = response.context["form"]
    assert "unknown variable ${CLUSTER_NAMESPACE} (Stashboard's name for it is ${TEAM})" in form.errors["template"][0]
    assert "/es/${CLUSTER_NAMESPACE}" in response.content.decode()
    response = alice.post(reverse("backups:blueprint-new"), _form(selector="tier in (gold"))
    assert "is not a selector term" in response.context["form"].errors["selector"][0]
    response = alice.post(reverse("backups:blueprint-new"), {**_form(), "template": "sessions: [a: b"})
    assert response.context["form"].errors["template"][0].startswith("Not valid YAML at line 1")
    assert not BackupBlueprint.objects.exists()


def test_cluster_labels_are_edited_in_the_cluster_form_and_reconciled(labelled, alice: Client):
    other = f.cluster(labelled["a"], "es-2")
    data = {"name": "es-2", "urls": "http://127.0.0.1:9200", "labels": "backup=gold\nenv=prod", "auth": "none",
            "timeout": 60, "verify_tls": "on"}
    response = alice.post(reverse("backups:cluster-edit", args=[other.uuid]), data)
    assert response.status_code == 302
    other.refresh_from_db()
    assert other.labels == {"backup": "gold", "env": "prod"}
    assert BackupConfiguration.objects.get(target=other).name == "es-2-gold"
    page = alice.get(reverse("backups:cluster-edit", args=[other.uuid])).content.decode()
    assert "backup=gold\nenv=prod" in page
    bad = alice.post(reverse("backups:cluster-edit", args=[other.uuid]), {**data, "labels": "Bad Key=x"})
    assert bad.status_code == 400 and "use letters, digits" in bad.context["form"].errors["labels"][0]
    assert "Bad Key=x" in bad.content.decode()


def test_the_configuration_page_says_made_from_and_detaches(labelled, alice: Client):
    made = labelled["made"]
    page = alice.get(reverse("backups:configuration-detail", args=[made.uuid])).content.decode()
    assert "Made from blueprint" in page and "Detach from the blueprint" in page
    edit = alice.get(reverse("backups:configuration-edit", args=[made.uuid]))
    assert edit.status_code == 302  # refused: it follows the blueprint
    assert alice.get(reverse("backups:configuration-delete", args=[made.uuid])).content.decode().count("detach it first") == 1
    assert alice.post(reverse("backups:configuration-detach", args=[made.uuid])).status_code == 302
    made.refresh_from_db()
    assert made.blueprint is None and made.blueprint_name == "gold"
    assert Entry.objects.filter(action="changed", target_name=made.name, fields=["blueprint"], actor="alice").exists()
    assert "detached: your own now" in alice.get(reverse("backups:configuration-detail", args=[made.uuid])).content.decode()
    assert alice.get(reverse("backups:configuration-edit", args=[made.uuid])).status_code == 200
    rows = alice.get(reverse("backups:blueprint-detail", args=[labelled["blueprint"].uuid])).content.decode()
    assert "Detached" in rows


def test_deleting_a_blueprint_keeps_its_configurations_paused(labelled, alice: Client):
    bp, made = labelled["blueprint"], labelled["made"]
    page = alice.get(reverse("backups:blueprint-delete", args=[bp.uuid])).content.decode()
    assert "stay, paused, with their snapshots" in page
    assert alice.post(reverse("backups:blueprint-delete", args=[bp.uuid])).status_code == 302
    made.refresh_from_db()
    assert made.paused and made.blueprint is None
    assert "which was deleted" in alice.get(reverse("backups:configuration-detail", args=[made.uuid])).content.decode()
