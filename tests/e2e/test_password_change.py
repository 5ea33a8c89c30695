"""Changing a repository's password while configurations back up into it (issue 16.4):
every backup started between the steps (key added, Secret saved, old key removed)
succeeds, on a local directory and on S3."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from backups import flows
from backups.models import BackupSession
from storage import flows as storage_flows
from storage.models import Repository
from storage.repo import Repository as EngineRepository
from storage.repo import WrongPassword
from tests import factories as f
from tests.fixtures.flows import make_config, ready, work
from tests.peers.osmem import seed
from tests.peers.seaweedfs import SeaweedS3, start_seaweedfs

pytestmark = [pytest.mark.slow, pytest.mark.search_kinds("osmem")]


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with start_seaweedfs(tmp_path_factory.mktemp("seaweed")) as server:
        yield server


def _on_s3(world: dict[str, Any], s3: SeaweedS3) -> dict[str, Any]:
    bucket = s3.make_bucket("stash-passwd")
    creds = f.secret(world["team"], "s3-creds", {"AWS_ACCESS_KEY_ID": s3.access_key, "AWS_SECRET_ACCESS_KEY": s3.secret_key})
    storage = f.storage(world["team"], "seaweed", provider="s3", bucket=bucket, prefix="p", endpoint=s3.endpoint,
                        path_style=True, region="us-east-1", secret=creds)
    Repository.objects.filter(pk=world["repo"].pk).update(storage=storage)
    world["repo"].refresh_from_db()
    return {**world, "storage": storage}


@pytest.mark.parametrize("where", ["local", "s3"])
def test_backups_started_between_the_steps_of_a_password_change_succeed(world: dict[str, Any], es_url: str,
                                                                        request: pytest.FixtureRequest, where: str) -> None:
    if where == "s3":
        world = _on_s3(world, request.getfixturevalue("s3"))
    seed(es_url, f"keys-{where}", 30)
    config = make_config(world, f"keys-{where}")
    ready(world, config)
    session_config = config.sessions.get()
    repo = Repository.objects.select_related("storage", "encryption_secret").get()
    steps, stale, change = [], [], storage_flows.password_change_steps(repo, "the new password")
    while True:
        # Workers that read the Secret before this step (or an earlier one) and open the
        # repository after it: the one that read the old password before the Secret was
        # saved opens after the old key is gone.
        stale.append(Repository.objects.select_related("storage__secret", "encryption_secret").get())
        stale[-1].password()
        step = next(change, None)
        if step is None:
            break
        flows.trigger_backup(session_config, "manual")
        work()
        assert [storage_flows.open_repository(row).id for row in stale] == [repo.repository_id] * len(stale)
        steps.append(step)
    assert steps == ["key added", "secret saved", "old key removed"]
    sessions = list(BackupSession.objects.order_by("created").values_list("phase", "error"))
    assert sessions == [("Succeeded", "")] * 4
    backend = storage_flows.repository_backend(repo)
    assert len(EngineRepository.open(backend, "the new password").snapshot_ids()) == 4
    with pytest.raises(WrongPassword):
        EngineRepository.open(backend, "pw-for-tests")
