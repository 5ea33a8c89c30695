"""alice (owner, team A), bob (viewer, team A) and charlie (owner, team B) on every
admin page and on the tenancy querysets."""
from __future__ import annotations

import pytest
from django.urls import reverse

from backups.models import BackupBlueprint, BackupConfiguration, BackupSession, Cluster, Snapshot
from restores.models import BackupVerifier, RestoreSession, VerificationRun
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from tenancy.models import Team
from tests import factories as f

pytestmark = pytest.mark.django_db

MODELS = [Secret, BackupStorage, RetentionPolicy, Repository, Cluster, BackupConfiguration, BackupSession, Snapshot, RestoreSession,
          BackupVerifier, VerificationRun, BackupBlueprint]


@pytest.fixture
def world(teams):
    for user in ("alice", "bob", "charlie"):
        teams[user].is_staff = True
        teams[user].save()
    objs = {}
    for key in ("a", "b"):
        team = teams[key]
        config = f.configuration(team, "nightly")
        repo = config.sessions.get().repositories.get()
        session = f.backup_session(config)
        objs[key] = {
            Secret: repo.encryption_secret,
            BackupStorage: repo.storage,
            RetentionPolicy: f.retention(team),
            Repository: repo,
            Cluster: config.target,
            BackupConfiguration: config,
            BackupSession: session,
            Snapshot: f.snapshot(session, repo),
            RestoreSession: f.restore(team, repo, config.target),
            BackupBlueprint: f.blueprint(team, "gold", template=f.blueprint_template(secret_name=repo.encryption_secret.name)),
        }
        objs[key][BackupVerifier] = f.verifier(team, "check", repo, config.target)
        objs[key][VerificationRun] = VerificationRun.objects.create(team=team, verifier=objs[key][BackupVerifier],
                                                                    snapshot=objs[key][Snapshot])
    return {**teams, "objs": objs}


def admin_url(model, action, obj=None):
    name = f"admin:{model._meta.app_label}_{model._meta.model_name}_{action}"
    return reverse(name, args=[obj.pk] if obj else [])


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_the_queryset_shows_each_user_only_their_teams_rows(world, model):
    a, b = world["objs"]["a"][model], world["objs"]["b"][model]
    assert list(model.objects.for_user(world["alice"])) == [a]
    assert list(model.objects.for_user(world["bob"])) == [a]
    assert list(model.objects.for_user(world["charlie"])) == [b]
    assert list(model.objects.writable_by(world["bob"])) == []
    assert list(model.objects.writable_by(world["alice"])) == [a]


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_admin_lists_only_the_users_team(world, client, model):
    a, b = world["objs"]["a"][model], world["objs"]["b"][model]
    for user, visible, _hidden in (("alice", a, b), ("bob", a, b), ("charlie", b, a)):
        client.force_login(world[user])
        response = client.get(admin_url(model, "changelist"))
        assert response.status_code == 200
        shown = {o.pk for o in response.context["cl"].result_list}
        assert shown == {visible.pk}, (user, model.__name__)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_admin_change_page_of_another_team_is_not_found(world, client, model):
    b = world["objs"]["b"][model]
    client.force_login(world["alice"])
    response = client.get(admin_url(model, "change", b))
    # Django's admin redirects to the index with "doesn't exist" for objects outside get_queryset.
    assert response.status_code == 302 and response.url == reverse("admin:index")


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_a_viewer_can_look_but_not_change_or_delete(world, client, model):
    a = world["objs"]["a"][model]
    client.force_login(world["bob"])
    assert client.get(admin_url(model, "change", a)).status_code == 200
    assert client.get(admin_url(model, "delete", a)).status_code == 403
    assert client.get(admin_url(model, "add")).status_code == 403
    response = client.post(admin_url(model, "delete", a), {"post": "yes"})
    assert response.status_code == 403
    assert model.objects.filter(pk=a.pk).exists()


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_an_owner_may_open_the_change_page(world, client, model):
    client.force_login(world["alice"])
    response = client.get(admin_url(model, "change", world["objs"]["a"][model]))
    assert response.status_code == 200


def test_a_superuser_sees_every_team_in_the_admin(world, client, django_user_model):
    root = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client.force_login(root)
    for model in MODELS:
        response = client.get(admin_url(model, "changelist"))
        assert response.context["cl"].result_count == 2, model.__name__


def test_the_admin_team_choices_offer_only_teams_the_user_may_write(world, client):
    client.force_login(world["alice"])
    response = client.get(admin_url(Secret, "add"))
    choices = [c[1] for c in response.context["adminform"].form.fields["team"].choices]
    assert "Team A" in choices and "Team B" not in choices


def test_owners_manage_members_and_viewers_do_not(world, client):
    team = world["a"]
    client.force_login(world["alice"])
    assert client.get(reverse("admin:tenancy_team_change", args=[team.pk])).status_code == 200
    client.force_login(world["bob"])
    response = client.post(reverse("admin:tenancy_team_change", args=[team.pk]), {"name": "Hacked", "slug": "team-a"})
    assert response.status_code == 403
    client.force_login(world["charlie"])
    assert client.get(reverse("admin:tenancy_team_change", args=[team.pk])).status_code == 302


def test_anonymous_users_see_nothing(world):
    from django.contrib.auth.models import AnonymousUser

    for model in MODELS:
        assert not model.objects.for_user(AnonymousUser()).exists()


def test_an_owner_adds_a_member_in_the_admin(world, client, django_user_model):
    from tenancy.models import Membership

    team = world["a"]
    dave = django_user_model.objects.create_user("dave", password="pw")
    existing = list(Membership.objects.filter(team=team).order_by("pk"))
    data = {"name": team.name, "slug": team.slug, "webhook_url": "", "notify_emails": "", "stale_after_hours": 26,
            "memberships-TOTAL_FORMS": len(existing) + 1, "memberships-INITIAL_FORMS": len(existing),
            "memberships-MIN_NUM_FORMS": 0, "memberships-MAX_NUM_FORMS": 1000}
    for i, m in enumerate(existing):
        data.update({f"memberships-{i}-id": m.pk, f"memberships-{i}-team": team.pk, f"memberships-{i}-user": m.user_id,
                     f"memberships-{i}-role": m.role})
    n = len(existing)
    data.update({f"memberships-{n}-team": team.pk, f"memberships-{n}-user": dave.pk, f"memberships-{n}-role": "operator"})
    client.force_login(world["alice"])
    response = client.post(reverse("admin:tenancy_team_change", args=[team.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Membership.objects.get(team=team, user=dave).role == "operator"


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_admin_list_filters_offer_only_the_users_teams_rows(world, client, model):
    for user, mine in (("alice", "a"), ("bob", "a"), ("charlie", "b")):
        theirs = "b" if mine == "a" else "a"
        client.force_login(world[user])
        response = client.get(admin_url(model, "changelist"))
        html = response.content.decode()
        related = [spec for spec in response.context["cl"].filter_specs if hasattr(spec, "lookup_choices")
                   and getattr(spec, "field", None) is not None and spec.field.is_relation]
        for spec in related:
            offered = {pk for pk, _ in spec.lookup_choices}
            target = spec.field.related_model
            if target is Team:
                assert offered == {world[mine].pk}, (user, spec.title)
            else:
                assert offered == set(target.objects.filter(team=world[mine]).values_list("pk", flat=True)), (user, spec.title)
        # A filter with one choice left is not shown at all (Django's has_output()).
        assert f"Team {theirs.upper()}" not in html, user


def test_a_superusers_admin_filters_offer_every_team(world, client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.com", "pw"))
    response = client.get(admin_url(Snapshot, "changelist"))
    teams = next(spec for spec in response.context["cl"].filter_specs if getattr(spec, "field", None) is not None
                 and spec.field.name == "team")
    assert {pk for pk, _ in teams.lookup_choices} == {world["a"].pk, world["b"].pk}


def test_admin_by_configuration_and_repository_filters_name_no_other_team(world, client):
    BackupConfiguration.objects.filter(team=world["b"]).update(name="secret-plan-of-b")
    Repository.objects.filter(team=world["b"]).update(name="secret-repo-of-b")
    client.force_login(world["alice"])
    for model in (BackupSession, Snapshot, Repository, BackupConfiguration):
        html = client.get(admin_url(model, "changelist")).content.decode()
        assert "secret-plan-of-b" not in html and "secret-repo-of-b" not in html, model.__name__
        assert "Team B" not in html, model.__name__


@pytest.mark.parametrize("user, status", [("alice", 403), ("bob", 403), ("charlie", 403), ("root", 200)])
def test_the_job_queues_are_for_superusers_only(world, client, django_user_model, user, status):
    if user == "root":
        account = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    else:
        account = world[user]  # staff (the world fixture makes them staff), not superuser
    client.force_login(account)
    for url in (reverse("django_rq:home"), reverse("django_rq:jobs", args=[0]),
                reverse("django_rq:clear", args=[0]), reverse("django_rq:home_json")):
        assert client.get(url).status_code == status, url


def test_anonymous_users_are_sent_to_the_login_page_by_the_job_queues(world, client):
    response = client.get(reverse("django_rq:home"))
    assert response.status_code == 302 and "/admin/login/" in response.url
    assert client.get(reverse("django_rq:home_json")).status_code == 401
