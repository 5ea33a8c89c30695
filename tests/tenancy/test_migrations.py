"""Team and Membership moved from dashboard to tenancy: a database made by the migrations
before the move keeps every row, every foreign key and every granted permission."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.apps import apps as live_apps
from django.contrib.auth.models import Permission
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

# The last migration of each app before the move (main before issue 14).
BEFORE = [
    ("dashboard", "0001_initial"),
    ("storage", "0002_check_cycle"),
    ("backups", "0005_snapshot_outlives_its_session"),
    ("restores", "0002_claims_and_session_hooks"),
]


def _migrate(targets: list[tuple[str, str | None]]) -> Any:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state([(app, name) for app, name in targets if name is not None]).apps


def _latest() -> list[tuple[str, str | None]]:
    graph = MigrationExecutor(connection).loader.graph
    return [key for key in graph.leaf_nodes() if key[0] in {"tenancy", "dashboard", "storage", "backups", "restores", "api"}]


@pytest.fixture
def before_the_move(transactional_db: Any) -> Iterator[Any]:
    old = _migrate([*BEFORE, ("tenancy", None)])
    try:
        yield old
    finally:
        _migrate(_latest())


def _fill(old: Any) -> dict[str, Any]:
    """One of everything that names a team, made with the models as they were."""
    User = old.get_model("auth", "User")
    Group = old.get_model("auth", "Group")
    Permission = old.get_model("auth", "Permission")
    Team = old.get_model("dashboard", "Team")
    Membership = old.get_model("dashboard", "Membership")
    alice = User.objects.create(username="alice")
    team = Team.objects.create(name="Team A", slug="team-a", webhook_url="https://hooks.example/a", stale_after_hours=5)
    other = Team.objects.create(name="Team B", slug="team-b")
    old.get_model("storage", "Secret").objects.create(team=other, name="creds", encrypted_data="y", key_names=[])
    Membership.objects.create(team=team, user=alice, role="owner")
    editors = Group.objects.create(name="team editors")
    editors.permissions.add(Permission.objects.get(content_type__app_label="dashboard", codename="change_team"))
    alice.groups.add(editors)

    get = old.get_model
    secret = get("storage", "Secret").objects.create(team=team, name="creds", encrypted_data="x", key_names=["password"])
    storage = get("storage", "BackupStorage").objects.create(team=team, name="local", provider="local", mount_path="/tmp/x")
    retention = get("storage", "RetentionPolicy").objects.create(team=team, name="keep", max_retention_period="30d")
    repo = get("storage", "Repository").objects.create(team=team, name="repo", storage=storage, directory="a/repo",
                                                       encryption_secret=secret)
    cluster = get("backups", "Cluster").objects.create(team=team, name="es", urls="http://127.0.0.1:9200", auth_secret=secret)
    config = get("backups", "BackupConfiguration").objects.create(team=team, name="nightly", target=cluster)
    get("backups", "BackupSessionConfig").objects.create(configuration=config, name="full", schedule="0 2 * * *",
                                                        retention_policy=retention)
    session = get("backups", "BackupSession").objects.create(team=team, configuration=config, session="full",
                                                            name="nightly-full-1", phase="Succeeded")
    snapshot = get("backups", "Snapshot").objects.create(team=team, backup_session=session, repository=repo, name="repo-1",
                                                        phase="Succeeded", snapshot_id="abc123", total_docs=42)
    restore = get("restores", "RestoreSession").objects.create(team=team, name="back", target=cluster, repository=repo,
                                                              snapshot="latest", phase="Failed", error="boom")
    return {"team": team.pk, "other": other.pk, "alice": alice.pk, "secret": secret.pk, "storage": storage.pk,
            "retention": retention.pk, "repo": repo.pk, "cluster": cluster.pk, "config": config.pk,
            "session": session.pk, "snapshot": snapshot.pk, "restore": restore.pk}


def _check(apps: Any, app_label: str, ids: dict[str, Any]) -> None:
    Team = apps.get_model(app_label, "Team")
    team = Team.objects.get(pk=ids["team"])
    assert (team.name, team.slug, team.webhook_url, team.stale_after_hours) == ("Team A", "team-a", "https://hooks.example/a", 5)
    membership = apps.get_model(app_label, "Membership").objects.get()
    assert (membership.team_id, membership.user_id, membership.role) == (ids["team"], ids["alice"], "owner")
    for app, model, key in [("storage", "Secret", "secret"), ("storage", "BackupStorage", "storage"),
                            ("storage", "RetentionPolicy", "retention"), ("storage", "Repository", "repo"),
                            ("backups", "Cluster", "cluster"), ("backups", "BackupConfiguration", "config"),
                            ("backups", "BackupSession", "session"), ("backups", "Snapshot", "snapshot"),
                            ("restores", "RestoreSession", "restore")]:
        row = apps.get_model(app, model).objects.select_related("team").get(pk=ids[key])
        assert row.team.slug == "team-a", (model, row.team)  # the join goes through the moved table
    snapshot = apps.get_model("backups", "Snapshot").objects.get(pk=ids["snapshot"])
    assert (snapshot.snapshot_id, snapshot.total_docs, snapshot.repository_id) == ("abc123", 42, ids["repo"])
    restore = apps.get_model("restores", "RestoreSession").objects.get(pk=ids["restore"])
    assert (restore.phase, restore.error, restore.target_id) == ("Failed", "boom", ids["cluster"])


def test_a_database_from_before_the_move_keeps_its_rows_and_grants(before_the_move: Any) -> None:
    ids = _fill(before_the_move)

    new = _migrate(_latest())
    _check(new, "tenancy", ids)
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    assert {"tenancy_team", "tenancy_membership"} <= set(tables)
    assert not {"dashboard_team", "dashboard_membership"} & set(tables)
    # The group's grant followed the relabelled content type: the admin's check passes.
    alice = live_apps.get_model("auth", "User").objects.get(pk=ids["alice"])
    assert alice.has_perm("tenancy.change_team")
    # (dashboard's own Profile has permissions of its own; none of Team's or Membership's stay behind)
    assert not Permission.objects.filter(content_type__app_label="dashboard", content_type__model__in=["team", "membership"]).exists()
    # Deleting a team still cascades through the foreign keys that moved to tenancy.team.
    live_apps.get_model("tenancy", "Team").objects.get(pk=ids["other"]).delete()
    assert list(live_apps.get_model("storage", "Secret").objects.values_list("team_id", flat=True)) == [ids["team"]]

    old = _migrate([*BEFORE, ("tenancy", None)])
    _check(old, "dashboard", ids)
    assert old.get_model("auth", "Permission").objects.filter(
        content_type__app_label="dashboard", codename="change_team", group__name="team editors").exists()
