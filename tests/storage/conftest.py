"""Real storage peers (SeaweedFS, fake-gcs-server, Azurite, a directory) for the engine tests."""
from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.backends import Backend, open_backend
from tests.peers.azurite import AzuriteBlob, start_azurite
from tests.peers.fakegcs import FakeGCS, start_fake_gcs
from tests.peers.seaweedfs import SeaweedS3, start_seaweedfs

BUCKET = "stashboard-tests"


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeaweedS3]:
    with start_seaweedfs(tmp_path_factory.mktemp("peers")) as s3:
        s3.make_bucket(BUCKET)
        yield s3


@pytest.fixture(scope="session")
def fake_gcs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FakeGCS]:
    with start_fake_gcs(tmp_path_factory.mktemp("peers")) as gcs:
        gcs.make_bucket(BUCKET)
        yield gcs


@pytest.fixture(scope="session")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AzuriteBlob]:
    with start_azurite(tmp_path_factory.mktemp("peers")) as az:
        az.make_container(BUCKET)
        yield az


def make_backend(kind: str, request: pytest.FixtureRequest, tmp_path: Path,
                 prefix: str | None = None) -> Backend:
    prefix = prefix if prefix is not None else "t-" + secrets.token_hex(6)
    if kind == "local":
        return open_backend("local", root=str(tmp_path / "repo"))
    if kind == "s3":
        s3: SeaweedS3 = request.getfixturevalue("seaweedfs")
        return open_backend("s3", bucket=BUCKET, prefix=prefix, endpoint=s3.endpoint,
                            path_style=True, credentials={"access_key_id": s3.access_key,
                                                          "secret_access_key": s3.secret_key})
    if kind == "gcs":
        gcs: FakeGCS = request.getfixturevalue("fake_gcs")
        return open_backend("gcs", bucket=BUCKET, prefix=prefix, endpoint=gcs.endpoint)
    if kind == "azure":
        az: AzuriteBlob = request.getfixturevalue("azurite")
        return open_backend("azure", bucket=BUCKET, prefix=prefix,
                            credentials={"connection_string": az.connection_string})
    raise ValueError(kind)


@pytest.fixture(params=["local", "s3", "gcs", "azure"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    """The same tests against every kind of storage, each test under a fresh prefix."""
    b = make_backend(request.param, request, tmp_path)
    yield b
    b.close()


@pytest.fixture
def local_backend(tmp_path: Path) -> Backend:
    return open_backend("local", root=str(tmp_path / "repo"))
