"""The cluster page read live from the cluster (health, version, nodes, indices and which
configuration's next backup reads each) and "Test connection" on the cluster form,
before saving, saying which step failed."""
from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from backups.models import Cluster
from tests import factories as f
from tests.peers.clusters import SearchCluster
from tests.peers.osmem import es, reset, seed
from tests.peers.receiver import http_receiver

pytestmark = pytest.mark.django_db


@pytest.fixture
def seeded(search: SearchCluster) -> str:
    reset(search.url)
    seed(search.url, "logs-a", 12, shards=1)
    seed(search.url, "logs-b", 5, shards=1)
    seed(search.url, "users", 3, shards=1)
    es(search.url, "POST", "/_refresh")
    return search.url


# the engine's own answers (statistics, nodes, the selection): osmem and one real node
@pytest.mark.search_kinds("osmem", "opensearch-2")
def test_the_cluster_page_lists_indices_and_which_backup_reads_each(world: dict[str, Any], seeded: str, alice: Client,
                                                                    bob: Client, charlie: Client) -> None:
    cluster = f.cluster(world["a"], "live", url=seeded)
    f.configuration(world["a"], "logs-nightly", target=cluster, repositories=[world["repo"]])
    sc = cluster.backup_configurations.get().sessions.get()
    sc.task_params = {"indices": "logs-*", "exclude": "logs-b"}
    sc.save()
    url = reverse("backups:cluster-overview", args=[cluster.uuid])

    r = alice.get(url, HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and "<html" not in html and 'id="overview"' in html
    rows = {row.split('"')[0]: row for row in html.split('data-index="')[1:]}
    assert set(rows) >= {"logs-a", "logs-b", "users"}
    assert "logs-nightly" in rows["logs-a"] and ">12<" in rows["logs-a"]
    assert "logs-nightly" not in rows["logs-b"] and ">no<" in rows["logs-b"]   # excluded by the pattern
    assert "logs-nightly" not in rows["users"]
    info = es(seeded, "GET", "/")["version"]
    name = "OpenSearch" if info.get("distribution") == "opensearch" else "Elasticsearch"
    assert f"{name} {info['number'].split('-')[0]}" in html
    node = es(seeded, "GET", "/_cat/nodes?format=json")[0]["name"]
    assert node in html

    # the page itself loads the overview into #overview (HTMX), and answers without it
    page = alice.get(reverse("backups:cluster-detail", args=[cluster.uuid])).content.decode()
    assert f'hx-get="{url}"' in page and 'hx-trigger="load"' in page
    assert bob.get(url, HTTP_HX_REQUEST="true").status_code == 200       # a viewer reads it
    assert charlie.get(url, HTTP_HX_REQUEST="true").status_code == 404   # another team's cluster


@pytest.mark.parametrize(("urls", "kind", "words"), [
    ("http://127.0.0.1:1", "unreachable", "cannot reach http://127.0.0.1:1"),
    ("http://no-such-host.invalid:9200", "DNS", "does not resolve"),
])
def test_an_unreachable_cluster_page_says_why_instead_of_failing(world: dict[str, Any], alice: Client, urls: str,
                                                                 kind: str, words: str) -> None:
    cluster = f.cluster(world["a"], "gone", url=urls)
    r = alice.get(reverse("backups:cluster-overview", args=[cluster.uuid]), HTTP_HX_REQUEST="true")
    html = r.content.decode()
    assert r.status_code == 200 and f'data-failure="{kind}"' in html and words in html
    assert "Cannot read the cluster now" in html
    full = alice.get(reverse("backups:cluster-overview", args=[cluster.uuid]))  # without HTMX: the whole page
    assert full.status_code == 200 and "<html" in full.content.decode()


@pytest.fixture
def web_server() -> Iterator[str]:
    with http_receiver(lambda _: (200, b"<html><body>a web server</body></html>"), "text/html") as server:
        yield server.url


@pytest.fixture
def locked_server() -> Iterator[str]:
    """Answers like a secured Elasticsearch without credentials."""
    body = b'{"error":{"type":"security_exception","reason":"missing authentication credentials"},"status":401}'
    with http_receiver(lambda _: (401, body)) as server:
        yield server.url


def _form(urls: str, **kw: str) -> dict[str, str]:
    return {"name": "new-one", "urls": urls, "auth": "none", "timeout": "5", "verify_tls": "on", **kw}


@pytest.mark.search_kinds("osmem")
def test_test_connection_on_the_form_tries_what_is_typed_without_saving(world: dict[str, Any], search: SearchCluster,
                                                                        web_server: str, locked_server: str,
                                                                        alice: Client, bob: Client,
                                                                        charlie: Client) -> None:
    url = reverse("backups:cluster-test-form")
    before = Cluster.objects.count()

    def result(data: dict[str, str], client: Client = alice) -> str:
        r = client.post(url, data, HTTP_HX_REQUEST="true")
        assert r.status_code == 200
        return r.content.decode()

    html = result(_form(search.url))
    assert "Connected" in html and "Nodes" in html and "opensearch" in html
    assert 'data-failure="DNS"' in result(_form("http://no-such-host.invalid:9200"))
    assert 'data-failure="unreachable"' in result(_form("http://127.0.0.1:1"))
    html = result(_form(web_server))
    assert 'data-failure="not a search server"' in html and "check the URL and port" in html
    html = result(_form(locked_server))
    assert 'data-failure="authentication"' in html and "authentication failed (401)" in html
    html = result(_form(search.url.replace("http://", "https://")))
    assert 'data-failure="TLS"' in html and "speaks plain HTTP" in html
    html = result(_form("es.example:9200"))
    assert 'data-failure="form"' in html and "URLs:" in html and "scheme" in html
    html = result(_form(search.url, auth="basic"))
    assert "Authentication:" not in html and "Choose the secret that holds the credentials" in html
    assert Cluster.objects.count() == before   # nothing saved

    # editing: the cluster's own secret and settings, with what is typed on top
    existing = world["cluster"]
    html = result({**_form(search.url), "cluster": str(existing.uuid)})
    assert "Connected" in html
    assert Cluster.objects.get(pk=existing.pk).urls == "http://127.0.0.1:9200"   # unchanged
    assert bob.post(url, _form(search.url), HTTP_HX_REQUEST="true").status_code == 403
    assert charlie.post(url, {**_form(search.url), "cluster": str(existing.uuid)}, HTTP_HX_REQUEST="true").status_code == 404
    form_page = alice.get(reverse("backups:cluster-new")).content.decode()
    assert f'hx-post="{url}"' in form_page and "Test connection" in form_page
