"""The snapshot browser read from the repository: cluster metadata beside the indices, a
preview of an index's first documents, one index as `_bulk` NDJSON (loadable with curl),
and two snapshots compared. Another team's snapshot is a 404 everywhere."""
from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from tests.dashboard.conftest import client_for
from tests.peers.clusters import ONE_KIND
from tests.peers.osmem import es

# the engine reads the repository and the cluster: osmem and one real node
pytestmark = pytest.mark.search_kinds(ONE_KIND)  # reads the repository, not the cluster


def test_the_snapshot_page_shows_the_cluster_metadata_and_index_actions(backed_up: dict[str, Any]) -> None:
    snap = backed_up["second"]
    html = client_for(backed_up["alice"]).get(reverse("backups:snapshot-detail", args=[snap.uuid])).content.decode()
    assert 'id="cluster-metadata"' in html and "Index templates" in html and "logs-template" in html
    assert "Ingest pipelines" in html and "Lifecycle policies" in html
    assert reverse("backups:snapshot-index-preview", args=[snap.uuid, "logs-a"]) in html
    assert reverse("backups:snapshot-index-download", args=[snap.uuid, "logs-a"]) in html
    assert str(backed_up["first"].uuid) in html   # the other snapshot to compare with
    assert "_bulk" in html   # how to load a download


def test_the_snapshot_page_says_how_each_index_was_read(backed_up: dict[str, Any]) -> None:
    snap = backed_up["second"]
    url = reverse("backups:snapshot-detail", args=[snap.uuid])
    html = client_for(backed_up["alice"]).get(url).content.decode()
    rows = {name: html.split(f"<td class=\"mono\">{name}", 1)[1].split("</tr>", 1)[0] for name in ("events", "logs-a", "users")}
    assert 'class="index-mode">full <div class="faint">not in the previous snapshot</div>' in rows["events"]
    assert "new index uuid (deleted and created again)" in rows["logs-a"]   # seeded again: read in full, and why
    assert 'class="index-mode">unchanged' in rows["users"]
    assert client_for(backed_up["bob"]).get(url).status_code == 200
    assert client_for(backed_up["charlie"]).get(url).status_code == 404


def test_a_preview_shows_the_first_documents_read_from_the_repository(backed_up: dict[str, Any]) -> None:
    snap = backed_up["first"]
    url = reverse("backups:snapshot-index-preview", args=[snap.uuid, "logs-a"])
    alice = client_for(backed_up["alice"])
    r = alice.get(url, {"n": "5"}, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html
    assert html.count("<details") == 5 and "The first 5 of 40 documents" in html
    assert "message" in html and "doc-" in html and "&quot;n&quot;:" in html   # the source, pretty-printed JSON
    assert alice.get(url).status_code == 200 and "<html" in alice.get(url).content.decode()   # without HTMX: a page
    assert client_for(backed_up["bob"]).get(url, HTTP_HX_REQUEST="true").status_code == 200
    assert client_for(backed_up["charlie"]).get(url, HTTP_HX_REQUEST="true").status_code == 404
    missing = reverse("backups:snapshot-index-preview", args=[snap.uuid, "no-such-index"])
    assert alice.get(missing, HTTP_HX_REQUEST="true").status_code == 404


def test_an_index_downloads_as_bulk_ndjson_that_curl_can_load(backed_up: dict[str, Any]) -> None:
    snap = backed_up["first"]
    url = reverse("backups:snapshot-index-download", args=[snap.uuid, "logs-b"])   # deleted from the cluster since
    r = client_for(backed_up["alice"]).get(url)
    assert r.status_code == 200 and r.streaming and r["Content-Type"] == "application/x-ndjson"
    assert f'filename="logs-b-{snap.snapshot_id[:8]}.ndjson"' in r["Content-Disposition"]
    body = b"".join(r.streaming_content)  # type: ignore[attr-defined]  # a StreamingHttpResponse (asserted above)
    lines = body.splitlines()
    assert len(lines) == 2 * 25 and lines[0].startswith(b'{"index":{"_id":"doc-')
    # what `curl -XPOST HOST/NAME/_bulk --data-binary @file` does
    answer = es(backed_up["url"], "POST", "/logs-b-again/_bulk?refresh=true", ndjson=body)
    assert answer["errors"] is False
    assert es(backed_up["url"], "GET", "/logs-b-again/_count")["count"] == 25
    assert client_for(backed_up["bob"]).get(url).status_code == 200
    assert client_for(backed_up["charlie"]).get(url).status_code == 404


def test_two_snapshots_compare_by_index(backed_up: dict[str, Any]) -> None:
    first, second = backed_up["first"], backed_up["second"]
    url = reverse("backups:snapshot-compare", args=[second.uuid])
    r = client_for(backed_up["alice"]).get(url, {"with": str(first.uuid)})
    html = r.content.decode()
    assert r.status_code == 200
    rows = {row.split('"')[0]: row for row in html.split('data-index="')[1:]}
    assert 'data-state="added"' in rows["events"] and 'data-state="removed"' in rows["logs-b"]
    assert 'data-state="changed"' in rows["logs-a"] and 'data-state="unchanged"' in rows["users"]
    assert ">+15<" in rows["logs-a"]   # 40 → 55 documents
    assert client_for(backed_up["bob"]).get(url, {"with": str(first.uuid)}).status_code == 200
    charlie = client_for(backed_up["charlie"])
    assert charlie.get(url, {"with": str(first.uuid)}).status_code == 404
    assert client_for(backed_up["alice"]).get(url, {"with": "not-a-uuid"}).status_code == 404
