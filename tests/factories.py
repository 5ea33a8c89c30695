"""A small hand-written factory module: one function per model, sensible defaults."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User

from backups.models import BackupConfiguration, BackupSession, BackupSessionConfig, Cluster, Snapshot
from restores.models import BackupVerifier, RestoreSession
from storage.models import BackupStorage, Repository, RetentionPolicy, Secret
from tenancy.models import Membership, Team
from tests.peers.clusters import external_credentials


def team(slug: str = "team-a", **kw: Any) -> Team:
    return Team.objects.create(slug=slug, name=kw.pop("name", slug.replace("-", " ").title()), **kw)


def user(username: str, team: Team | None = None, role: str = Membership.Role.OWNER, **kw: Any) -> User:
    u = User.objects.create_user(username=username, password=kw.pop("password", "pw-" + username), **kw)
    if team is not None:
        Membership.objects.create(team=team, user=u, role=role)
    return u


def secret(team: Team, name: str = "creds", data: dict[str, str] | None = None) -> Secret:
    s = Secret(team=team, name=name)
    s.set_data(data if data is not None else {"RESTIC_PASSWORD": "correct horse battery staple"})
    s.full_clean()
    s.save()
    return s


def storage(team: Team, name: str = "local", **kw: Any) -> BackupStorage:
    kw.setdefault("provider", "local")
    if kw["provider"] == "local":
        kw.setdefault("mount_path", str(settings.LOCAL_STORAGE_ROOT / team.slug / name))
    s = BackupStorage(team=team, name=name, **kw)
    s.full_clean()
    s.save()
    return s


def retention(team: Team, name: str = "keep-5", **kw: Any) -> RetentionPolicy:
    kw.setdefault("keep_last", 5)
    r = RetentionPolicy(team=team, name=name, **kw)
    r.full_clean()
    r.save()
    return r


def cluster(team: Team, name: str = "es", url: str = "http://127.0.0.1:9200", **kw: Any) -> Cluster:
    creds = external_credentials(url)
    if creds and "auth" not in kw:  # the external test cluster: its credentials and CA
        username, password, ca_bundle = creds
        if username:
            kw.update(auth="basic", auth_secret=secret(team, f"{name}-credentials",
                                                       {"username": username, "password": password}))
        if ca_bundle:
            kw["ca_bundle"] = Path(ca_bundle).read_text()
    c = Cluster(team=team, name=name, urls=url, **kw)
    c.full_clean()
    c.save()
    return c


def repository(team: Team, name: str = "repo", storage_obj: BackupStorage | None = None,
               secret_obj: Secret | None = None, **kw: Any) -> Repository:
    r = Repository(
        team=team, name=name, storage=storage_obj or storage(team), directory=kw.pop("directory", name),
        encryption_secret=secret_obj or secret(team, f"{name}-key"), **kw,
    )
    r.full_clean()
    r.save()
    return r


def configuration(team: Team, name: str = "nightly", target: Cluster | None = None,
                  repositories: list[Repository] | None = None, schedule: str = "0 2 * * *",
                  retention_obj: RetentionPolicy | None = None, backoff_limit: int = 0, **kw: Any) -> BackupConfiguration:
    """backoff_limit 0 here (the model's default is 1): a failure fails at once unless a test asks for retries."""
    c = BackupConfiguration(team=team, name=name, target=target or cluster(team), **kw)
    c.full_clean()
    c.save()
    s = BackupSessionConfig(configuration=c, name="full", schedule=schedule, retention_policy=retention_obj,
                            backoff_limit=backoff_limit)
    s.full_clean()
    s.save()
    s.repositories.set(repositories if repositories is not None else [repository(team, f"{name}-repo")])
    return c


def backup_session(config: BackupConfiguration, **kw: Any) -> BackupSession:
    return BackupSession.objects.create(team=config.team, configuration=config, session=kw.pop("session", "full"), **kw)


def snapshot(session: BackupSession, repo: Repository, **kw: Any) -> Snapshot:
    return Snapshot.objects.create(team=session.team, backup_session=session, repository=repo, **kw)


def restore(team: Team, repo: Repository, target: Cluster, name: str = "restore-1", **kw: Any) -> RestoreSession:
    r = RestoreSession(team=team, name=name, repository=repo, target=target, **kw)
    r.full_clean()
    r.save()
    return r


def blueprint_template(storage_name: str = "local", secret_name: str = "repo-key", retention_name: str | None = None,
                       schedule: str = "0 2 * * *", **session: Any) -> dict[str, Any]:
    """A BackupBlueprint's configuration template: one backend, one session, one repository per cluster."""
    backend: dict[str, Any] = {"name": "main", "storageRef": {"name": storage_name}}
    if retention_name:
        backend["retentionPolicy"] = {"name": retention_name}
    return {"backends": [backend], "sessions": [{
        "name": "full", "scheduler": {"schedule": schedule},
        "repositories": [{"name": "${CLUSTER_NAME}-full", "backend": "main", "directory": "/es/${TEAM}/${CLUSTER_NAME}",
                          "encryptionSecret": {"name": secret_name}}], **session}]}


def blueprint(team: Team, name: str = "gold", selector: dict[str, Any] | None = None, **kw: Any) -> Any:
    from backups.models import BackupBlueprint

    kw.setdefault("template", blueprint_template())
    b = BackupBlueprint(team=team, name=name, selector=selector or {"matchLabels": {"backup": name}}, **kw)
    b.full_clean()
    b.save()
    return b


def verifier(team: Team, name: str = "verify", repo: Repository | None = None, target: Cluster | None = None,
             **kw: Any) -> BackupVerifier:
    kw.setdefault("every_n_backups", 1)
    v = BackupVerifier(team=team, name=name, repository=repo or repository(team, f"{name}-repo"),
                       target=target or cluster(team, f"{name}-scratch"), **kw)
    v.full_clean()
    v.save()
    return v
