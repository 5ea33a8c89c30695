from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import pytest

from storage.backends import (
    AlreadyExists,
    Backend,
    BackendError,
    NotFound,
    backend_from_url,
    init_storage,
    open_backend,
    wipe_repository,
    wipe_storage,
)


def test_it_round_trips_bytes_and_streams(backend: Backend) -> None:
    backend.put("a/one", b"hello")
    backend.put("a/empty", b"")
    payload = os.urandom(3 << 20)
    backend.put("b/stream", io.BytesIO(payload))
    assert backend.get("a/one") == b"hello"
    assert backend.get("a/empty") == b""
    assert backend.get("b/stream") == payload
    assert backend.get_range("b/stream", 1000, 5000) == payload[1000:6000]
    with backend.open("b/stream") as f:
        assert f.read() == payload


def test_it_lists_a_prefix_relative_to_the_root(backend: Backend) -> None:
    for key in ("data/00/x", "data/01/y", "snapshots/z", "dataset"):
        backend.put(key, b"1")
    assert sorted(backend.list("data/")) == ["data/00/x", "data/01/y"]
    assert sorted(backend.list("")) == ["data/00/x", "data/01/y", "dataset", "snapshots/z"]
    assert list(backend.list("nothing/")) == []


def test_it_deletes_and_tells_existence(backend: Backend) -> None:
    backend.put("k", b"v")
    assert backend.exists("k")
    backend.delete("k")
    assert not backend.exists("k")
    backend.delete("k")  # deleting a missing key is fine


def test_a_missing_key_is_a_permanent_not_found(backend: Backend) -> None:
    with pytest.raises(NotFound) as e:
        backend.get("missing/key")
    assert e.value.permanent
    assert "missing/key" in str(e.value)


def test_a_conditional_put_refuses_to_overwrite(backend: Backend) -> None:
    backend.put("lock", b"first", if_absent=True)
    with pytest.raises(AlreadyExists):
        backend.put("lock", b"second", if_absent=True)
    assert backend.get("lock") == b"first"
    backend.put("lock", b"third")
    assert backend.get("lock") == b"third"


def test_only_one_of_racing_conditional_puts_wins(backend: Backend) -> None:
    wins, barrier = [], threading.Barrier(4)

    def racer(i: int) -> None:
        barrier.wait()
        try:
            backend.put("race", f"{i}".encode(), if_absent=True)
            wins.append(i)
        except AlreadyExists:
            pass

    threads = [threading.Thread(target=racer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(wins) == 1
    assert backend.get("race") == str(wins[0]).encode()


def test_init_storage_claims_the_prefix_and_refuses_another_storage(backend: Backend) -> None:
    init_storage(backend, "storage-a")
    init_storage(backend, "storage-a")  # idempotent for the owner
    with pytest.raises(BackendError, match="already initialized by storage 'storage-a'") as e:
        init_storage(backend, "storage-b")
    assert e.value.permanent
    init_storage(backend, "storage-b", adopt=True)
    with pytest.raises(BackendError):
        init_storage(backend, "storage-a")


def test_describe_names_where_it_points(backend: Backend) -> None:
    assert backend.describe().startswith(("file://", "s3://", "gs://", "azure://"))


def test_s3_names_a_missing_bucket_and_what_to_fix(seaweedfs) -> None:  # type: ignore[no-untyped-def]
    b = open_backend("s3", bucket="no-such-bucket", endpoint=seaweedfs.endpoint, path_style=True,
                     credentials={"access_key_id": seaweedfs.access_key,
                                  "secret_access_key": seaweedfs.secret_key})
    with pytest.raises(BackendError, match="no-such-bucket.*create it") as e:
        list(b.list(""))
    assert e.value.permanent


def test_s3_names_a_wrong_secret(seaweedfs) -> None:  # type: ignore[no-untyped-def]
    b = open_backend("s3", bucket="stashboard-tests", endpoint=seaweedfs.endpoint,
                     path_style=True, credentials={"access_key_id": seaweedfs.access_key,
                                                   "secret_access_key": "wrong"})
    with pytest.raises(BackendError, match="secret key") as e:
        b.put("x", b"1")
    assert e.value.permanent


def test_an_unreachable_endpoint_is_transient() -> None:
    from storage.backends.s3 import S3Backend
    from tests.peers.util import free_port

    b = S3Backend(bucket="b", endpoint=f"http://127.0.0.1:{free_port()}", path_style=True,
                  credentials={"access_key_id": "a", "secret_access_key": "b"}, max_attempts=1)
    with pytest.raises(BackendError, match="cannot reach") as e:
        b.get("x")
    assert not e.value.permanent


def test_s3_over_https_to_a_plain_http_port_says_to_write_http(seaweedfs) -> None:  # type: ignore[no-untyped-def]
    from storage.backends.s3 import S3Backend

    https = seaweedfs.endpoint.replace("http://", "https://")
    b = S3Backend(bucket="stashboard-tests", endpoint=https, path_style=True, max_attempts=1,
                  credentials={"access_key_id": seaweedfs.access_key, "secret_access_key": seaweedfs.secret_key})
    with pytest.raises(BackendError) as e:
        b.get("x")
    assert f"speaks plain HTTP, not TLS: write the endpoint as {seaweedfs.endpoint}" in str(e.value)
    assert "CA bundle" not in str(e.value)


def test_backend_from_url_reads_each_scheme(tmp_path, seaweedfs, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    local = backend_from_url(f"file://{tmp_path}/r")
    local.put("x", b"1")
    assert (tmp_path / "r" / "x").read_bytes() == b"1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", seaweedfs.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", seaweedfs.secret_key)
    s3 = backend_from_url(f"s3://stashboard-tests/url-test?endpoint={seaweedfs.endpoint}"
                          f"&path_style=true")
    s3.put("x", b"2")
    assert s3.get("x") == b"2"
    assert "s3://stashboard-tests/url-test" in s3.describe()
    with pytest.raises(BackendError, match="unsupported repository URL"):
        backend_from_url("ftp://x/y")


def test_local_writes_leave_no_temp_files(tmp_path) -> None:  # type: ignore[no-untyped-def]
    b = open_backend("local", root=str(tmp_path))
    b.put("d/k", io.BytesIO(b"x" * 100))
    assert sorted(os.listdir(tmp_path / "d")) == ["k"]


@pytest.mark.parametrize("kind", ["s3", "gcs", "azure"])
def test_a_missing_bucket_is_a_permanent_error_naming_it(kind: str, request) -> None:  # type: ignore[no-untyped-def]
    from .conftest import make_backend

    b = make_backend(kind, request, Path("/nonexistent"), prefix="p")
    b.inner.__dict__.update(_missing_bucket(b))  # type: ignore[attr-defined]  # past the retry layer
    with pytest.raises(BackendError, match="no-such-bucket-42.*create it") as e:
        list(b.list("data/"))
    assert e.value.permanent
    if kind == "s3":
        return  # SeaweedFS creates a missing bucket on PUT for an admin identity
    with pytest.raises(BackendError, match="no-such-bucket-42.*create it") as e:
        b.put("x", b"1")
    assert e.value.permanent and not isinstance(e.value, NotFound)


def _missing_bucket(b: Backend) -> dict[str, object]:
    name = "no-such-bucket-42"
    if b.kind == "s3":
        return {"bucket": name}
    if b.kind == "gcs":
        return {"bucket_name": name, "bucket": b.client.bucket(name)}  # type: ignore[attr-defined]
    return {"container_name": name,
            "container": b.service.get_container_client(name)}  # type: ignore[attr-defined]


def test_s3_uploads_large_streams_in_parts(seaweedfs) -> None:  # type: ignore[no-untyped-def]
    from boto3.s3.transfer import TransferConfig

    from .conftest import make_backend

    class Request:  # make_backend only needs getfixturevalue
        @staticmethod
        def getfixturevalue(name: str):  # type: ignore[no-untyped-def]
            return seaweedfs

    b = make_backend("s3", Request(), Path("/nonexistent"))  # type: ignore[arg-type]
    b.inner.transfer = TransferConfig(multipart_threshold=5 << 20, multipart_chunksize=5 << 20)  # type: ignore[attr-defined]
    payload = os.urandom(12 << 20)
    b.put("big", io.BytesIO(payload))
    assert b.get("big") == payload
    etag = b.client.head_object(Bucket=b.bucket, Key=f"{b.prefix}/big")["ETag"]  # type: ignore[attr-defined]
    assert etag.strip('"').endswith("-3")  # three parts


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_s3_behind_tls_with_a_private_ca(seaweedfs) -> None:  # type: ignore[no-untyped-def]
    from storage.flows import _ca_file
    from tests.peers.tlsproxy import tls_proxy

    creds = {"access_key_id": seaweedfs.access_key, "secret_access_key": seaweedfs.secret_key}
    with tls_proxy(seaweedfs.endpoint) as tls:
        # the CA as a file, as the PEM text a storage row holds, and verification off (asked for)
        for options in ({"ca_bundle": tls.ca_path}, {"ca_bundle": _ca_file(tls.ca_pem)},
                        {"insecure": True}):
            b = open_backend("s3", bucket="stashboard-tests", prefix="tls", endpoint=tls.url,
                             path_style=True, credentials=creds, **options)
            b.put("k", b"over tls")
            assert b.get("k") == b"over tls"
        from storage.backends.s3 import S3Backend

        b = S3Backend(bucket="stashboard-tests", prefix="tls", endpoint=tls.url, path_style=True,
                      credentials=creds, max_attempts=1)
        with pytest.raises(BackendError, match=r"TLS error talking to https://localhost:\d+.*CA bundle"):
            b.get("k")


def _parent_and_child(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> tuple[Backend, Backend]:
    """Two storages' backends, the second one's prefix inside the first's."""
    import secrets

    from .conftest import make_backend

    if kind == "local":
        return open_backend("local", root=str(tmp_path / "p")), open_backend("local", root=str(tmp_path / "p" / "child"))
    prefix = "t-" + secrets.token_hex(6)
    return make_backend(kind, request, tmp_path, prefix), make_backend(kind, request, tmp_path, prefix + "/child")


@pytest.mark.parametrize("kind", ["local", "s3", "gcs", "azure"])
def test_a_wipe_deletes_only_the_storages_repositories_and_metadata(kind: str, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    parent, _ = _parent_and_child(kind, request, tmp_path)
    init_storage(parent, "parent")
    for key in ("mine/repository.yaml", "mine/data/00/x", "mine-2/x", "stranger/file"):
        parent.put(key, b"1")
    assert wipe_storage(parent, "parent", ["mine"]) == 3
    assert sorted(parent.list("")) == ["mine-2/x", "stranger/file"]


@pytest.mark.parametrize("kind", ["local", "s3", "gcs", "azure"])
def test_a_wipe_refuses_a_prefix_holding_another_storage(kind: str, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    parent, child = _parent_and_child(kind, request, tmp_path)
    init_storage(parent, "parent")
    init_storage(child, "child")
    parent.put("child/repository.yaml", b"1")  # the child's files, as the parent sees them
    parent.put("mine/repository.yaml", b"1")
    with pytest.raises(BackendError, match="holds another storage's child/metadata.yaml: nothing was wiped"):
        wipe_storage(parent, "parent", ["mine", "child"])
    assert child.exists("metadata.yaml") and child.exists("repository.yaml")
    assert parent.exists("mine/repository.yaml") and parent.exists("metadata.yaml")
    with pytest.raises(BackendError, match="nothing was wiped"):
        wipe_repository(parent)


@pytest.mark.parametrize("kind", ["local", "s3"])
def test_a_wipe_refuses_a_prefix_another_storage_adopted(kind: str, request, tmp_path) -> None:  # type: ignore[no-untyped-def]
    parent, _ = _parent_and_child(kind, request, tmp_path)
    init_storage(parent, "first")
    init_storage(parent, "second", adopt=True)
    with pytest.raises(BackendError, match="metadata.yaml: nothing was wiped"):
        wipe_storage(parent, "first", [])
