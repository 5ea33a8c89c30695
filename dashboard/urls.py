from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from api import urls as api_urls
from dashboard.metrics import metrics
from dashboard.views import (
    audit,
    blueprints,
    clusters,
    configurations,
    overview,
    profile,
    repositories,
    repository_keys,
    restores,
    retention,
    secrets,
    sessions,
    snapshots,
    storages,
    team,
    verifiers,
)
from sso import views as sso_views

# URL names carry the app that owns the resource (`backups:session-detail`); every view
# lives in dashboard/views, the UI app.
dashboard_patterns = [
    path("", overview.overview, name="overview"),
    path("running/", overview.overview_running, name="overview-running"),
    path("login/", team.login, name="login"),
    path("logout/", team.logout, name="logout"),
    path("profile/", profile.profile, name="profile"),
    path("profile/time-zone/", profile.profile_detected_zone, name="profile-time-zone"),
]

tenancy_patterns = [
    path("team/switch/", team.team_switch, name="team-switch"),
    path("team/", team.team_settings, name="team-settings"),
    path("team/members/", team.member_add, name="member-add"),
    path("team/members/new/", team.member_create, name="member-create"),
    path("teams/new/", team.team_new, name="team-new"),
    path("invite/<uidb64>/<token>/", team.invite, name="invite"),
    path("team/members/<int:pk>/role/", team.member_role, name="member-role"),
    path("team/members/<int:pk>/remove/", team.member_remove, name="member-remove"),
]

audit_patterns = [
    path("audit/", audit.audit_log, name="audit-log"),
    path("audit/export.jsonl", audit.audit_export, name="audit-export"),
]

storage_patterns = [
    path("secrets/", secrets.secret_list, name="secret-list"),
    path("secrets/new/", secrets.secret_new, name="secret-new"),
    path("secrets/<uuid:uuid>/edit/", secrets.secret_edit, name="secret-edit"),
    path("secrets/<uuid:uuid>/delete/", secrets.secret_delete, name="secret-delete"),
    path("storages/", storages.storage_list, name="storage-list"),
    path("storages/new/", storages.storage_new, name="storage-new"),
    path("storages/<uuid:uuid>/", storages.storage_detail, name="storage-detail"),
    path("storages/<uuid:uuid>/edit/", storages.storage_edit, name="storage-edit"),
    path("storages/<uuid:uuid>/initialize/", storages.storage_initialize, name="storage-initialize"),
    path("storages/<uuid:uuid>/delete/", storages.storage_delete, name="storage-delete"),
    path("retention/", retention.retention_list, name="retention-list"),
    path("retention/new/", retention.retention_new, name="retention-new"),
    path("retention/<uuid:uuid>/edit/", retention.retention_edit, name="retention-edit"),
    path("retention/<uuid:uuid>/delete/", retention.retention_delete, name="retention-delete"),
    path("repositories/", repositories.repository_list, name="repository-list"),
    path("repositories/new/", repositories.repository_new, name="repository-new"),
    path("repositories/<uuid:uuid>/", repositories.repository_detail, name="repository-detail"),
    path("repositories/<uuid:uuid>/check/", repositories.repository_check, name="repository-check"),
    path("repositories/<uuid:uuid>/delete/", repositories.repository_delete, name="repository-delete"),
    path("repositories/<uuid:uuid>/keys/", repository_keys.repository_keys, name="repository-keys"),
    path("repositories/<uuid:uuid>/keys/add/", repository_keys.repository_key_add, name="repository-key-add"),
    path("repositories/<uuid:uuid>/keys/remove/", repository_keys.repository_key_remove, name="repository-key-remove"),
    path("repositories/<uuid:uuid>/keys/passwd/", repository_keys.repository_passwd, name="repository-passwd"),
]

backups_patterns = [
    path("clusters/", clusters.cluster_list, name="cluster-list"),
    path("clusters/new/", clusters.cluster_new, name="cluster-new"),
    path("clusters/test-connection/", clusters.cluster_test_form, name="cluster-test-form"),
    path("clusters/<uuid:uuid>/", clusters.cluster_detail, name="cluster-detail"),
    path("clusters/<uuid:uuid>/edit/", clusters.cluster_edit, name="cluster-edit"),
    path("clusters/<uuid:uuid>/test/", clusters.cluster_test, name="cluster-test"),
    path("clusters/<uuid:uuid>/overview/", clusters.cluster_overview, name="cluster-overview"),
    path("clusters/<uuid:uuid>/delete/", clusters.cluster_delete, name="cluster-delete"),
    path("configurations/", configurations.configuration_list, name="configuration-list"),
    path("configurations/new/", configurations.configuration_new, name="configuration-new"),
    path("configurations/schedule-preview/", configurations.schedule_preview, name="schedule-preview"),
    path("configurations/<uuid:uuid>/", configurations.configuration_detail, name="configuration-detail"),
    path("configurations/<uuid:uuid>/edit/", configurations.configuration_edit, name="configuration-edit"),
    path("configurations/<uuid:uuid>/sessions/new/", configurations.session_config_edit, name="session-config-new"),
    path("configurations/<uuid:uuid>/sessions/<slug:name>/", configurations.session_config_edit, name="session-config-edit"),
    path("configurations/<uuid:uuid>/pause/", configurations.configuration_pause, name="configuration-pause"),
    path("configurations/<uuid:uuid>/backup-now/", configurations.configuration_backup_now, name="configuration-backup-now"),
    path("configurations/<uuid:uuid>/delete/", configurations.configuration_delete, name="configuration-delete"),
    path("configurations/<uuid:uuid>/detach/", blueprints.configuration_detach, name="configuration-detach"),
    path("blueprints/", blueprints.blueprint_list, name="blueprint-list"),
    path("blueprints/new/", blueprints.blueprint_new, name="blueprint-new"),
    path("blueprints/preview/", blueprints.blueprint_preview, name="blueprint-preview"),
    path("blueprints/<uuid:uuid>/", blueprints.blueprint_detail, name="blueprint-detail"),
    path("blueprints/<uuid:uuid>/edit/", blueprints.blueprint_edit, name="blueprint-edit"),
    path("blueprints/<uuid:uuid>/delete/", blueprints.blueprint_delete, name="blueprint-delete"),
    path("sessions/", sessions.session_list, name="session-list"),
    path("sessions/<uuid:uuid>/", sessions.session_detail, name="session-detail"),
    path("sessions/<uuid:uuid>/cancel/", sessions.session_cancel, name="session-cancel"),
    path("snapshots/<uuid:uuid>/", snapshots.snapshot_detail, name="snapshot-detail"),
    path("snapshots/<uuid:uuid>/compare/", snapshots.snapshot_compare, name="snapshot-compare"),
    path("snapshots/<uuid:uuid>/indices/<str:index>/preview/", snapshots.snapshot_index_preview, name="snapshot-index-preview"),
    path("snapshots/<uuid:uuid>/indices/<str:index>/download/", snapshots.snapshot_index_download,
         name="snapshot-index-download"),
]

restores_patterns = [
    path("restores/", restores.restore_list, name="restore-list"),
    path("restores/new/", restores.restore_new, name="restore-new"),
    path("restores/preview/", restores.restore_preview, name="restore-preview"),
    path("restores/dry-run/", restores.restore_dry_run, name="restore-dry-run"),
    path("restores/<uuid:uuid>/", restores.restore_detail, name="restore-detail"),
    path("restores/<uuid:uuid>/cancel/", restores.restore_cancel, name="restore-cancel"),
    path("verifiers/", verifiers.verifier_list, name="verifier-list"),
    path("verifiers/new/", verifiers.verifier_new, name="verifier-new"),
    path("verifiers/<uuid:uuid>/", verifiers.verifier_detail, name="verifier-detail"),
    path("verifiers/<uuid:uuid>/edit/", verifiers.verifier_edit, name="verifier-edit"),
    path("verifiers/<uuid:uuid>/delete/", verifiers.verifier_delete, name="verifier-delete"),
    path("verifiers/<uuid:uuid>/run/", verifiers.verifier_run, name="verifier-run"),
]


def superusers_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """django-rq shows and empties every team's jobs, so staff is not enough. Anonymous
    requests reach the view, which sends them to the login page (or checks the API token)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.user.is_authenticated and not request.user.is_superuser:
            raise PermissionDenied("the job queues are for superusers only")
        return view(request, *args, **kwargs)

    return wrapped


def _wrapped(patterns: list[Any]) -> list[Any]:
    for pattern in patterns:
        pattern.callback = superusers_only(pattern.callback)
    return patterns


django_rq_patterns = _wrapped(get_api_urlpatterns()) + get_admin_urlpatterns(view_wrapper=superusers_only)

urlpatterns = [
    path("metrics", metrics, name="metrics"),
    path("api/v1/", api_urls.api_urls),
    path("", include((api_urls.token_patterns, "api"))),
    path("admin/login/", sso_views.admin_login),
    path("admin/", admin.site.urls),
    path("oidc/", include(("sso.urls", "sso"))),
    path("django-rq/", include((django_rq_patterns, "django_rq"))),
    path("", include((dashboard_patterns, "dashboard"))),
    path("", include((tenancy_patterns, "tenancy"))),
    path("", include((audit_patterns, "audit"))),
    path("", include((storage_patterns, "storage"))),
    path("", include((backups_patterns, "backups"))),
    path("", include((restores_patterns, "restores"))),
]
