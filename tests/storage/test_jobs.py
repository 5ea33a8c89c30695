"""storage/jobs.py: the maintenance jobs, called directly."""
from __future__ import annotations

import pytest

from storage import flows, jobs
from storage.backends import BackendError
from storage.models import BackupStorage, Repository
from tests import factories as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def root(settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.LOCAL_STORAGE_ROOT = tmp_path
    settings.LOCAL_STORAGE_ALLOWED_ROOTS = [tmp_path]
    return tmp_path


def test_a_wipeout_of_a_parent_directory_leaves_another_teams_repository(teams, root):
    victim = f.storage(teams["a"], "a", mount_path=str(root / "teams" / "a"))
    repo = f.repository(teams["a"], "repo", storage_obj=victim)
    jobs.init_storage(victim.pk)
    jobs.init_repository(repo.pk)
    assert (root / "teams" / "a" / "repo" / "repository.yaml").exists()
    # Made before storages that overlap were refused: no full_clean.
    parent = BackupStorage.objects.create(team=teams["b"], name="parent", provider="local",
                                          mount_path=str(root / "teams"), deletion_policy="WipeOut")
    jobs.init_storage(parent.pk)
    assert flows.delete_storage(parent) is False
    with pytest.raises(BackendError, match="holds another storage's a/metadata.yaml: nothing was wiped"):
        jobs.wipe_storage(parent.pk)
    assert (root / "teams" / "a" / "repo" / "repository.yaml").exists()
    assert (root / "teams" / "a" / "metadata.yaml").exists()
    assert "WipeOut failed" in BackupStorage.objects.get(pk=parent.pk).status_message


def test_a_wipeout_deletes_the_storages_repositories_and_metadata_only(teams, root):
    storage = f.storage(teams["a"], "a", deletion_policy="WipeOut")
    repo = f.repository(teams["a"], "repo", storage_obj=storage)
    jobs.init_storage(storage.pk)
    jobs.init_repository(repo.pk)
    (root / "team-a" / "a" / "notes.txt").write_text("not ours")
    jobs.wipe_storage(storage.pk)
    files = [p.relative_to(root) for p in root.rglob("*") if p.is_file()]
    assert [str(p) for p in files] == ["team-a/a/notes.txt"]
    assert not BackupStorage.objects.exists() and not Repository.objects.exists()
