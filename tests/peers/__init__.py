"""Real test peers started on free ports: plain context managers usable by any fixture.

    with start_seaweedfs(tmp_path) as s3: s3.endpoint, s3.access_key, s3.secret_key, s3.make_bucket(name)
    with start_azurite(tmp_path) as az: az.connection_string, az.make_container(name)
    with start_fake_gcs(tmp_path) as gcs: gcs.endpoint, gcs.make_bucket(name)
"""
from __future__ import annotations

from .azurite import AzuriteBlob, start_azurite
from .fakegcs import FakeGCS, start_fake_gcs
from .seaweedfs import SeaweedS3, start_seaweedfs

__all__ = ["AzuriteBlob", "FakeGCS", "SeaweedS3", "start_azurite", "start_fake_gcs",
           "start_seaweedfs"]
