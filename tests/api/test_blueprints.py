"""BackupBlueprint through /api/v1: create, labels on an AppBinding, the reconcile that
follows, detach, errors with apply's paths, and other teams' tokens."""
from __future__ import annotations

from typing import Any

import pytest

from audit.models import Entry
from backups.models import BackupConfiguration
from tests import factories as f
from tests.api.conftest import Api

pytestmark = pytest.mark.django_db


def _blueprint(name: str = "silver", selector: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"apiVersion": "core.kubestash.com/v1alpha1", "kind": "BackupBlueprint", "metadata": {"name": name},
            "spec": {"selector": selector or {"matchLabels": {"backup": name}},
                     "backupConfigurationTemplate": f.blueprint_template()}}


def _label(rw: Api, cluster: str, labels: dict[str, str]) -> Any:
    doc = rw.get(f"/appbindings/{cluster}").json()
    doc["metadata"]["labels"] = labels
    return rw.put(f"/appbindings/{cluster}", doc)


def test_a_blueprint_made_through_the_api_backs_up_the_labelled_cluster(world, rw: Api):
    created = rw.post("/backupblueprints", _blueprint())
    assert created.status_code == 201, created.content
    assert created.json()["spec"]["configurationName"] == "${CLUSTER_NAME}-${BLUEPRINT_NAME}"
    answer = _label(rw, "es", {"backup": "silver"})
    assert answer.status_code == 200 and answer.json()["metadata"]["labels"] == {"backup": "silver"}
    made = BackupConfiguration.objects.get(blueprint__name="silver")
    assert (made.name, made.target.name, made.team) == ("es-silver", "es", world["a"])
    status = rw.get("/backupblueprints/silver").json()["status"]
    assert status["configurations"] == [{"name": "es-silver", "cluster": "es"}]
    got = rw.get("/backupconfigurations/es-silver").json()
    assert got["metadata"]["annotations"] == {"blueprint.stashboard.io/name": "silver"}
    # a following configuration is changed through its blueprint
    got["spec"]["paused"] = True
    refused = rw.put("/backupconfigurations/es-silver", got)
    assert refused.status_code == 400 and "follows it: change the blueprint instead" in refused.json()["detail"]


def test_detach_makes_the_configuration_the_teams_own(world, rw: Api, other: Api, ro: Api):
    rw.post("/backupblueprints", _blueprint())
    _label(rw, "es", {"backup": "silver"})
    assert other.post("/backupconfigurations/es-silver/detach").status_code == 404
    assert ro.post("/backupconfigurations/es-silver/detach").status_code == 403
    answer = rw.post("/backupconfigurations/es-silver/detach")
    assert answer.status_code == 200
    assert answer.json()["metadata"]["annotations"] == {"blueprint.stashboard.io/detached-from": "silver"}
    assert BackupConfiguration.objects.get(name="es-silver").blueprint is None
    assert rw.post("/backupconfigurations/es-silver/detach").status_code == 409
    assert Entry.objects.filter(via="api", action="changed", target_name="es-silver", fields=["blueprint"]).exists()


def test_errors_name_the_field_as_apply_does(world, rw: Api):
    bad = _blueprint(selector={"matchExpressions": [{"key": "tier", "operator": "In"}]})
    answer = rw.post("/backupblueprints", bad)
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["path"] == "spec.selector.matchExpressions[0].values"
    labels = _label(rw, "es", {"env": "-prod"})
    assert labels.status_code == 400 and labels.json()["errors"][0]["path"] == "metadata.labels"


def test_another_teams_blueprint_with_the_same_selector_never_touches_team_a(world, rw: Api, other: Api):
    f.secret(world["b"], "repo-key")
    _label(rw, "es", {"backup": "silver"})
    doc = _blueprint()
    doc["spec"]["backupConfigurationTemplate"] = f.blueprint_template(storage_name="theirs")
    created = other.post("/backupblueprints", doc)
    assert created.status_code == 201, created.content
    assert not BackupConfiguration.objects.filter(blueprint__name="silver").exists()
    assert other.get("/backupblueprints/gold").status_code == 404
    assert [d["metadata"]["name"] for d in other.get("/backupblueprints").json()["items"]] == ["silver"]
