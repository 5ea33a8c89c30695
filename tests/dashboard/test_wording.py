"""What the pages say is true, and said one way: TLS on plain HTTP, pending sessions,
numbers, sizes, mappings, the snapshot a restore used, aliases renamed on restore."""
from __future__ import annotations

from typing import Any

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from backups.models import BackupSession, Snapshot
from dashboard.templatetags.stash import format_ibytes, format_num
from tests import factories as f

pytestmark = pytest.mark.django_db

NNBSP = "\u202f"


def test_a_plain_http_cluster_says_so_instead_of_tls_verified(world: dict[str, Any], alice: Client, bob: Client,
                                                              charlie: Client) -> None:
    url = reverse("backups:cluster-detail", args=[world["cluster"].uuid])  # http://127.0.0.1:9200
    for member in (alice, bob):
        html = member.get(url).content.decode()
        assert "plain HTTP" in html and "verified" not in html
    assert charlie.get(url).status_code == 404
    tls = f.cluster(world["a"], "secure", url="https://es.example:9200")
    assert "<dd>verified" in alice.get(reverse("backups:cluster-detail", args=[tls.uuid])).content.decode()
    insecure = f.cluster(world["a"], "insecure", url="https://es.example:9200", verify_tls=False)
    assert "not verified" in alice.get(reverse("backups:cluster-detail", args=[insecure.uuid])).content.decode()


def test_a_pending_session_is_not_started_yet_rather_than_started_never(world: dict[str, Any], alice: Client,
                                                                       bob: Client, charlie: Client) -> None:
    pending = f.backup_session(world["config"], phase="Pending")
    url = reverse("backups:session-detail", args=[pending.uuid])
    for member in (alice, bob):
        html = member.get(url).content.decode()
        assert "not started yet" in html and "never" not in html
    assert charlie.get(url).status_code == 404


def test_numbers_read_one_way_everywhere(world: dict[str, Any], alice: Client, bob: Client) -> None:
    assert format_num(20000) == f"20{NNBSP}000"
    assert Template("{% load stash %}{{ n|num }}").render(Context({"n": 20000})) == f"20{NNBSP}000"
    Snapshot.objects.filter(pk=world["snapshot"].pk).update(total_docs=20000)
    for member in (alice, bob):
        snap = member.get(reverse("backups:snapshot-detail", args=[world["snapshot"].uuid])).content.decode()
        assert f"20{NNBSP}000" in snap and "20,000" not in snap
    # the wizard's snapshot choices are built in Python: the same form
    wizard = alice.get(reverse("restores:restore-new"), {"repository": str(world["repo"].uuid)}).content.decode()
    assert f"20{NNBSP}000 docs" in wizard and "20,000" not in wizard


def test_size_parameters_are_shown_in_binary_units(world: dict[str, Any], alice: Client, bob: Client) -> None:
    assert (format_ibytes(8388608), format_ibytes(1536), format_ibytes(100)) == ("8 MiB", "1.5 KiB", "100 B")
    session = world["config"].sessions.get()
    session.task_params = {"page_bytes": 8388608, "batch_size": 5000}
    session.save()
    for member in (alice, bob):
        html = member.get(reverse("backups:configuration-detail", args=[world["config"].uuid])).content.decode()
        assert "page_bytes=8 MiB" in html and "8388608" not in html and f"batch_size=5{NNBSP}000" in html


def test_mappings_are_pretty_json_in_a_collapsible_block() -> None:
    mappings = {"properties": {"msg": {"type": "text"}, "n": {"type": "long"}}}
    html = Template("{% load stash %}<pre>{{ m|pretty_json }}</pre>").render(Context({"m": mappings}))
    assert "&quot;properties&quot;: {\n" in html and "{'properties'" not in html


def test_the_restores_list_names_the_snapshot_that_was_restored(world: dict[str, Any], alice: Client, bob: Client,
                                                                charlie: Client) -> None:
    restore = world["restore"]
    restore.resolved_snapshot_id = "cd" * 32
    restore.save()
    for member in (alice, bob):
        html = member.get(reverse("restores:restore-list")).content.decode()
        assert "repo@" in html and "cdcdcdcd" in html and "repo@latest" not in html
    assert "cdcdcdcd" not in charlie.get(reverse("restores:restore-list")).content.decode()
    # not resolved yet (pending): it still says what was asked for
    f.restore(world["a"], world["repo"], world["cluster"], name="restore-pending")
    assert "repo@latest" in alice.get(reverse("restores:restore-list")).content.decode()


def test_the_restore_review_says_aliases_are_renamed_with_the_indices(world: dict[str, Any], alice: Client) -> None:
    data = {"repository": world["repo"].pk, "snapshot": "latest", "indices": "logs-*", "exclude": "", "rename_pattern": "^(.*)$",
            "rename_replacement": r"restored-\1", "target": world["cluster"].pk, "conflict": "fail", "name": "",
            "action": "review"}
    html = alice.post(reverse("restores:restore-new"), data).content.decode()
    assert "applied to the indices and to their aliases" in html and ">Aliases<" in html


def test_a_finished_sessions_start_still_reads_as_an_age(world: dict[str, Any], alice: Client) -> None:
    from django.utils import timezone

    BackupSession.objects.filter(pk=world["session"].pk).update(started=timezone.now())
    html = alice.get(reverse("backups:session-detail", args=[world["session"].uuid])).content.decode()
    assert "ago" in html and "not started yet" not in html
