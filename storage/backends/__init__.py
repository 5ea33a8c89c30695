"""Storage backends: one class per kind behind one small interface (see base.Backend).

The cloud SDKs are imported inside each backend class, so importing this package is cheap.
"""
from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, unquote, urlsplit

from .base import AlreadyExists, Backend, BackendError, NotFound

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

__all__ = ["AlreadyExists", "Backend", "BackendError", "NotFound", "backend_from_url",
           "foreign_metadata", "init_storage", "open_backend", "wipe_repository",
           "wipe_storage"]

KINDS = ("local", "s3", "gcs", "azure")


def open_backend(kind: str, *, bucket: str = "", prefix: str = "", endpoint: str = "",
                 region: str = "", path_style: bool = False, ca_bundle: str = "",
                 insecure: bool = False, credentials: Mapping[str, str] | None = None,
                 root: str = "", retry_budget: float | None = None) -> Backend:
    """A backend of the given kind, its calls retried within `retry_budget` seconds
    (default: STASHBOARD_STORAGE_RETRY_BUDGET, else 120; 0 for one attempt).

    credentials keys by kind: s3 `access_key_id`, `secret_access_key`, `session_token`
    (else the standard AWS environment/chain); gcs `service_account_json` (else
    GOOGLE_APPLICATION_CREDENTIALS, or anonymous with a custom endpoint); azure
    `connection_string`, or `account_name` with `account_key` or `sas_token`.
    """
    from storage.retry import default_budget

    from .retrying import RetryingBackend

    inner = _open(kind, bucket=bucket, prefix=prefix, endpoint=endpoint, region=region,
                  path_style=path_style, ca_bundle=ca_bundle, insecure=insecure,
                  credentials=dict(credentials or {}), root=root)
    return RetryingBackend(inner, budget=default_budget() if retry_budget is None else retry_budget)


def _open(kind: str, *, bucket: str, prefix: str, endpoint: str, region: str, path_style: bool,
          ca_bundle: str, insecure: bool, credentials: dict[str, str], root: str) -> Backend:
    creds = credentials
    if kind == "local":
        from .local import LocalBackend

        path = root or bucket
        if prefix:
            path = os.path.join(path, prefix)
        return LocalBackend(path)
    if kind == "s3":
        from .s3 import S3Backend

        return S3Backend(bucket=bucket, prefix=prefix, endpoint=endpoint, region=region,
                         path_style=path_style, ca_bundle=ca_bundle, insecure=insecure,
                         credentials=creds)
    if kind in ("gcs", "gs"):
        from .gcs import GCSBackend

        return GCSBackend(bucket=bucket, prefix=prefix, endpoint=endpoint, credentials=creds)
    if kind == "azure":
        from .azure import AzureBackend

        return AzureBackend(bucket=bucket, prefix=prefix, endpoint=endpoint, credentials=creds)
    raise BackendError(f"unknown storage kind {kind!r}: use one of {', '.join(KINDS)}")


def _truthy(value: str) -> bool:
    return value.lower() in ("1", "true", "yes", "on")


def backend_from_url(url: str, *, environ: Mapping[str, str] | None = None) -> Backend:
    """A backend from a URL, with credentials from each SDK's standard environment variables.

    file:///path
    s3://bucket/prefix?endpoint=http://host:port&region=…&path_style=true&ca_bundle=…&insecure=true
        (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN, or the AWS chain)
    gs://bucket/prefix?endpoint=http://host:port
        (GOOGLE_APPLICATION_CREDENTIALS; STORAGE_EMULATOR_HOST as the endpoint if set)
    azure://container/prefix?endpoint=https://account.blob.core.windows.net&account=…
        (AZURE_STORAGE_CONNECTION_STRING, or AZURE_STORAGE_ACCOUNT + AZURE_STORAGE_KEY
        or AZURE_STORAGE_SAS_TOKEN)
    """
    env = os.environ if environ is None else environ
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
    bucket = unquote(parts.netloc)
    prefix = unquote(parts.path).strip("/")
    if scheme == "file":
        path = unquote(parts.path) if not parts.netloc else unquote(parts.netloc + parts.path)
        if not path:
            raise BackendError(f"no directory in {url!r}: use file:///absolute/path")
        return open_backend("local", root=path)
    if scheme == "s3":
        return _s3_from_url(bucket, prefix, q, env)
    if scheme in ("gs", "gcs"):
        return _gcs_from_url(bucket, prefix, q, env)
    if scheme in ("azure", "az"):
        return _azure_from_url(bucket, prefix, q, env)
    raise BackendError(f"unsupported repository URL {url!r}: use file:///path, "
                       f"s3://bucket/prefix?endpoint=…, gs://bucket/prefix or "
                       f"azure://container/prefix")


def _s3_from_url(bucket: str, prefix: str, q: dict[str, str], env: Mapping[str, str]) -> Backend:
    creds = {"access_key_id": env.get("AWS_ACCESS_KEY_ID", ""),
             "secret_access_key": env.get("AWS_SECRET_ACCESS_KEY", ""),
             "session_token": env.get("AWS_SESSION_TOKEN", "")}
    return open_backend("s3", bucket=bucket, prefix=prefix,
                        endpoint=q.get("endpoint", env.get("AWS_ENDPOINT_URL_S3", env.get("AWS_ENDPOINT_URL", ""))),
                        region=q.get("region", env.get("AWS_REGION", env.get("AWS_DEFAULT_REGION", ""))),
                        path_style=_truthy(q.get("path_style", q.get("path-style", ""))),
                        ca_bundle=q.get("ca_bundle", env.get("AWS_CA_BUNDLE", "")),
                        insecure=_truthy(q.get("insecure", "")),
                        credentials={k: v for k, v in creds.items() if v})


def _gcs_from_url(bucket: str, prefix: str, q: dict[str, str], env: Mapping[str, str]) -> Backend:
    endpoint = q.get("endpoint", "")
    if not endpoint and env.get("STORAGE_EMULATOR_HOST"):
        endpoint = env["STORAGE_EMULATOR_HOST"]
        if "://" not in endpoint:
            endpoint = "http://" + endpoint
    creds = {}
    if env.get("GOOGLE_SERVICE_ACCOUNT_JSON"):
        creds["service_account_json"] = env["GOOGLE_SERVICE_ACCOUNT_JSON"]
    return open_backend("gcs", bucket=bucket, prefix=prefix, endpoint=endpoint, credentials=creds)


def _azure_from_url(bucket: str, prefix: str, q: dict[str, str], env: Mapping[str, str]) -> Backend:
    creds = {"connection_string": q.get("connection_string", env.get("AZURE_STORAGE_CONNECTION_STRING", "")),
             "account_name": q.get("account", env.get("AZURE_STORAGE_ACCOUNT", "")),
             "account_key": env.get("AZURE_STORAGE_KEY", ""),
             "sas_token": env.get("AZURE_STORAGE_SAS_TOKEN", "")}
    endpoint = q.get("endpoint", "")
    if endpoint and creds["connection_string"] and "endpoint" in q:
        # An explicit endpoint wins over the connection string's.
        creds["connection_string"] = ""
        if not creds["account_key"]:
            # Pull the key out of the connection string so it still applies.
            for item in env.get("AZURE_STORAGE_CONNECTION_STRING", "").split(";"):
                k, _, v = item.partition("=")
                if k == "AccountName" and not creds["account_name"]:
                    creds["account_name"] = v
                if k == "AccountKey":
                    creds["account_key"] = v
    return open_backend("azure", bucket=bucket, prefix=prefix, endpoint=endpoint,
                        credentials={k: v for k, v in creds.items() if v})


METADATA_KEY = "metadata.yaml"


def init_storage(backend: Backend, storage_id: str, *, adopt: bool = False) -> None:
    """Claim the backend's prefix for a BackupStorage by writing metadata.yaml.

    A prefix already claimed by another storage id is refused unless adopt=True, so two
    storages never share (and prune) one prefix by accident.
    """
    import yaml

    doc = {"kind": "BackupStorage", "storageId": storage_id, "formatVersion": 1,
           "created": dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")}
    data = yaml.safe_dump(doc, sort_keys=False).encode()
    try:
        backend.put(METADATA_KEY, data, if_absent=True)
        return
    except AlreadyExists:
        pass
    try:
        existing = yaml.safe_load(backend.get(METADATA_KEY)) or {}
    except yaml.YAMLError as e:
        raise BackendError(f"{METADATA_KEY} in {backend.describe()} is not valid YAML: {e}; "
                           f"fix or remove it") from e
    owner = existing.get("storageId") if isinstance(existing, dict) else None
    if owner == storage_id:
        return
    if not adopt:
        raise BackendError(f"{backend.describe()} is already initialized by storage {owner!r}: "
                           f"choose another prefix, or adopt it explicitly")
    doc["adoptedFrom"] = owner
    backend.put(METADATA_KEY, yaml.safe_dump(doc, sort_keys=False).encode())


def foreign_metadata(backend: Backend, storage_id: str) -> list[str]:
    """Keys of every metadata.yaml under the backend's root that is not this storage's:
    another storage lives below (or took over) this prefix, so a wipe must not run."""
    import yaml

    foreign = []
    for key in backend.list(""):
        if key.rsplit("/", 1)[-1] != METADATA_KEY:
            continue
        try:
            doc = yaml.safe_load(backend.get(key))
        except (yaml.YAMLError, NotFound):
            doc = None
        if not (isinstance(doc, dict) and doc.get("storageId") == storage_id and key == METADATA_KEY):
            foreign.append(key)
    return sorted(foreign)


def wipe_storage(backend: Backend, storage_id: str, directories: Iterable[str]) -> int:
    """WipeOut of a BackupStorage: delete what it created (the given repository
    directories and its metadata.yaml), nothing else under its prefix, and nothing at
    all when another storage's metadata.yaml lies below it. Returns the objects deleted."""
    _refuse_foreign(backend, storage_id, "storage")
    keys: list[str] = []
    for directory in directories:
        directory = directory.strip("/")
        if directory:  # an empty directory would be the whole prefix, other files included
            keys.extend(backend.list(directory + "/"))
    _delete(backend, keys)
    backend.delete(METADATA_KEY)
    return len(keys) + 1


def wipe_repository(backend: Backend) -> int:
    """WipeOut of one repository: every object under its directory, nothing at all
    when a storage's metadata.yaml lies below it. Returns the objects deleted."""
    _refuse_foreign(backend, "", "repository")
    keys = list(backend.list(""))
    _delete(backend, keys)
    return len(keys)


def _refuse_foreign(backend: Backend, storage_id: str, what: str) -> None:
    foreign = foreign_metadata(backend, storage_id)
    if foreign:
        raise BackendError(f"{backend.describe()} holds another storage's {', '.join(foreign[:5])}: nothing was "
                           f"wiped; delete this {what} with deletion policy Delete")


def _delete(backend: Backend, keys: list[str]) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(backend.delete, keys))
