"""Connecting to an Elasticsearch or OpenSearch cluster.

All HTTP goes through `Connection.request`, plain urllib3 with `application/json`,
instead of the official `elasticsearch` client:

- the client sends compatibility media types
  (`application/vnd.elasticsearch+json; compatible-with=N`) that OpenSearch and
  osmem-server refuse with 406, and its product check refuses OpenSearch; plain JSON is
  what every distribution and version we support accepts, so no per-distribution client;
- the dump needs the raw bytes of `_source` (numbers beyond int64/double keep their
  digits), which a client that deserializes every response cannot give;
- importing the client's transport costs ~0.5 s and ~17 MB per process (it pulls in
  aiohttp), which is most of an unchanged backup's run time.
We speak about twenty endpoints; the version differences live in `dialect.py`.
"""
from __future__ import annotations

import base64
import logging
import ssl
import threading
import time
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

import orjson
import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    InsecureRequestWarning,
    NewConnectionError,
    ReadTimeoutError,
    SSLError,
)

from backups.elastic.dialect import Dialect
from storage.retry import delay
from storage.retry import retry as retry_call

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})


class ClusterError(Exception):
    """A cluster call failed; the message says what to fix.

    `permanent` tells retry logic whether trying again may help; `status` is the HTTP
    status (0 when there was no response)."""

    def __init__(self, message: str, *, permanent: bool = True, status: int = 0,
                 error_type: str = "") -> None:
        super().__init__(message)
        self.permanent = permanent
        self.status = status
        self.error_type = error_type

    @property
    def endpoint_missing(self) -> bool:
        """The server has no such API: an older version, the other distribution, or a
        module or plugin it was started without. Each server says so its own way."""
        text = str(self).lower()
        if self.status in (400, 404, 405, 501) and ("no handler" in text or "unrecognized" in text
                                                    or "not supported" in text):
            return True
        if self.status == 405 and "incorrect http method" in text:
            return True  # the path matched only another route, e.g. `POST /{index}/_doc`
        if self.status == 400 and self.error_type == "invalid_index_name_exception" and "start with '_'" in text:
            return True  # no route: the path was read as an index name (Elasticsearch)
        if self.error_type == "unsupported_operation_exception":
            return True
        return self.status == 404 and self.error_type not in ("index_not_found_exception",
                                                              "resource_not_found_exception", "")


class IndexNotFound(ClusterError):
    pass


@dataclass
class ClusterConfig:
    """Where a cluster is and how to authenticate; `urls` are tried round robin."""

    urls: list[str]
    username: str = ""
    password: str = ""
    api_key: str = ""              # "id:key" or the base64 form Elasticsearch prints
    ca_bundle: str = ""            # path to a PEM file
    ca_data: str = ""              # PEM text (from a secret, never written to disk)
    verify_tls: bool = True        # False must be asked for explicitly
    connect_timeout: float = 10.0
    request_timeout: float = 300.0
    max_retries: int = 6           # 429/502/503/504 and connection errors
    backoff_base: float = 0.5      # seconds, doubled per attempt, with jitter
    backoff_max: float = 30.0
    retry_budget: float = 300.0    # seconds over all the tries of one request
    connections_per_node: int = 16


@dataclass
class Response:
    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return orjson.loads(self.body) if self.body else {}


def _error_details(body: bytes) -> tuple[str, str]:
    """(type, reason) of an Elasticsearch error body, best effort."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return "", body[:300].decode("utf-8", "replace")
    err = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(err, dict):
        root = (err.get("root_cause") or [err])[0]
        reason = str(root.get("reason") or err.get("reason") or "")
        caused = err.get("caused_by")
        if isinstance(caused, dict) and caused.get("reason") and str(caused["reason"]) not in reason:
            reason = f"{reason} (caused by: {caused['reason']})"
        return str(root.get("type") or err.get("type") or ""), reason
    if isinstance(err, str):
        return "", err
    return "", body[:300].decode("utf-8", "replace")


def _ssl_context(cfg: ClusterConfig) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=cfg.ca_bundle or None, cadata=cfg.ca_data or None)
    if not cfg.verify_tls:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    return ctx


@dataclass(frozen=True)
class _Call:
    method: str
    target: str                 # path and query
    data: bytes | bytearray | None
    headers: Mapping[str, str]
    ok: tuple[int, ...]
    privilege: str
    index: str
    timeout: float | None


def _tls_error(base: str, e: SSLError) -> ClusterError:
    # OpenSSL's words for a plain-HTTP answer to a TLS hello (3.0; 3.2 and later).
    if any(w in str(e).lower() for w in ("wrong version number", "record layer failure")):
        return ClusterError(f"{base} speaks plain HTTP, not TLS: write the URL as "
                            f"{base.replace('https://', 'http://', 1)} (or point https:// at "
                            "the port that serves TLS)")
    return ClusterError(f"TLS failure talking to {base}: {e}. Give the cluster's CA bundle, "
                        "or turn verification off explicitly for a test cluster")


class Connection:
    """A connected cluster: `dialect`, `distribution`, `version`, and `request()`."""

    def __init__(self, cfg: ClusterConfig) -> None:
        if not cfg.urls:
            raise ClusterError("no cluster URL given: set at least one http(s)://host:port")
        self.cfg = cfg
        self.nodes: list[tuple[str, urllib3.HTTPConnectionPool, str]] = []   # (base url, pool, path prefix)
        self.headers = {"content-type": "application/json", "accept": "application/json"}
        if cfg.api_key:
            key = cfg.api_key
            if ":" in key:
                key = base64.b64encode(key.encode()).decode()
            self.headers["authorization"] = f"ApiKey {key}"
        elif cfg.username:
            token = base64.b64encode(f"{cfg.username}:{cfg.password}".encode()).decode()
            self.headers["authorization"] = f"Basic {token}"
        timeout = urllib3.Timeout(connect=cfg.connect_timeout, read=cfg.request_timeout)
        for url in cfg.urls:
            u = urlsplit(url if "://" in url else f"http://{url}")
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ClusterError(f"cluster URL {url!r} is not http(s)://host:port: fix the cluster's URL")
            port = u.port or (443 if u.scheme == "https" else 9200)
            pool: urllib3.HTTPConnectionPool
            if u.scheme == "https":
                if not cfg.verify_tls:
                    # asked for explicitly: say it once in the log, not on every request
                    log.warning("TLS verification is off for %s", url)
                    urllib3.disable_warnings(InsecureRequestWarning)
                pool = urllib3.HTTPSConnectionPool(
                    u.hostname, port, maxsize=cfg.connections_per_node, block=True, timeout=timeout,
                    retries=False, ssl_context=_ssl_context(cfg),
                    cert_reqs="CERT_REQUIRED" if cfg.verify_tls else "CERT_NONE",
                    assert_hostname=None if cfg.verify_tls else False)
            else:
                pool = urllib3.HTTPConnectionPool(u.hostname, port, maxsize=cfg.connections_per_node,
                                                  block=True, timeout=timeout, retries=False)
            self.nodes.append((f"{u.scheme}://{u.hostname}:{port}", pool, u.path.rstrip("/")))
        self._next = 0
        self._lock = threading.Lock()
        self.info: dict[str, Any] = {}
        self.dialect: Dialect | None = None

    # -- identity ---------------------------------------------------------------------
    @property
    def distribution(self) -> str:
        return self.dialect.distribution if self.dialect else ""

    @property
    def version(self) -> str:
        return self.dialect.version_string if self.dialect else ""

    def describe(self) -> str:
        return ", ".join(self.cfg.urls)

    def identify(self) -> Dialect:
        """`GET /` → distribution and version → the dialect every later call uses."""
        info = self.json("GET", "/", privilege="monitor (cluster privilege) or a valid login")
        self.info = info
        self.dialect = Dialect.from_info(info)
        return self.dialect

    def cluster_summary(self) -> dict[str, Any]:
        assert self.dialect
        return {"name": self.info.get("cluster_name", ""), "uuid": self.info.get("cluster_uuid", ""),
                "distribution": self.dialect.distribution, "version": self.dialect.version_string}

    # -- HTTP -------------------------------------------------------------------------
    def _node(self) -> tuple[str, urllib3.HTTPConnectionPool, str]:
        with self._lock:
            node = self.nodes[self._next % len(self.nodes)]
            self._next += 1
            return node

    def request(self, method: str, path: str, body: Any = None, *, raw: bytes | bytearray | None = None,
                params: Mapping[str, Any] | None = None, ok: Iterable[int] = (200, 201),
                ctype: str = "application/json", retry: bool = True, privilege: str = "",
                index: str = "", timeout: float | None = None, caller_retries: Collection[int] = ()) -> Response:
        """One HTTP call with retries on 429/502/503/504 and connection errors (storage.retry:
        `max_retries`, backoff with equal jitter, within `retry_budget`), each try on the next node.
        `caller_retries`: statuses the caller retries itself, raised at the first answer (still
        not permanent): the load's adaptive window halves and resends a 429, so one loop retries it.

        Statuses outside `ok` raise ClusterError with a message that says what to fix;
        `privilege` names what a 403 is missing, `index` turns a 404 into IndexNotFound."""
        data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
        target = path
        if params:
            target += "?" + "&".join(f"{k}={quote(str(v), safe=',*')}" for k, v in params.items())
        headers = dict(self.headers, **{"content-type": ctype}) if ctype != "application/json" else self.headers
        call = _Call(method, target, data, headers, tuple(ok), privilege, index, timeout)
        if not retry:
            return self._once(call)
        return retry_call(lambda: self._once(call), budget=self.cfg.retry_budget, base=self.cfg.backoff_base,
                          cap=self.cfg.backoff_max, attempts=self.cfg.max_retries + 1, jitter=0.5,
                          is_permanent=lambda e: (not isinstance(e, ClusterError) or e.permanent
                                                  or e.status in caller_retries))

    def _once(self, call: _Call) -> Response:
        base, pool, prefix = self._node()
        where = f"{base}{call.target.split('?')[0]}"
        kw: dict[str, Any] = {}
        if call.timeout is not None:
            kw["timeout"] = urllib3.Timeout(connect=self.cfg.connect_timeout, read=call.timeout)
        try:
            # a bytearray body (a restore's bulk) is sent as a buffer: urllib3 takes any
            # object with the buffer protocol, its stubs name bytes only
            resp = pool.urlopen(call.method, prefix + call.target, body=call.data,  # type: ignore[arg-type]
                                headers=call.headers, retries=False, preload_content=True, **kw)
        except SSLError as e:
            raise _tls_error(base, e) from e
        except NewConnectionError as e:  # a subclass of ConnectTimeoutError: first
            raise ClusterError(f"cannot reach {base}: {e}. Check the URL, that the cluster is running, "
                               "and firewalls", permanent=False) from e
        except (ConnectTimeoutError, ReadTimeoutError) as e:
            raise ClusterError(f"{call.method} {where} timed out: the cluster is overloaded or the timeout "
                               "is too short", permanent=False) from e
        except (HTTPError, OSError) as e:
            raise ClusterError(f"{call.method} {where}: connection failed: {e}. Check the URL, that the "
                               "cluster is running, and firewalls", permanent=False) from e
        if resp.status in call.ok:
            return Response(resp.status, resp.data, resp.headers)
        etype, reason = _error_details(resp.data)
        if resp.status in RETRY_STATUSES:
            raise ClusterError(f"{call.method} {where}: HTTP {resp.status} {etype}: {reason}",
                               permanent=False, status=resp.status, error_type=etype)
        raise self._status_error(call.method, where, resp.status, etype, reason, call.privilege, call.index)

    def backoff(self, attempt: int) -> None:
        """Sleep before retry `attempt` (1-based) of something the caller retries itself
        (the load's rejected bulk items): the same backoff as request()'s."""
        time.sleep(delay(attempt, base=self.cfg.backoff_base, cap=self.cfg.backoff_max, jitter=0.5))

    def _status_error(self, method: str, where: str, status: int, etype: str, reason: str,
                      privilege: str, index: str) -> ClusterError:
        if status == 401:
            who = f"user {self.cfg.username!r}" if self.cfg.username else (
                "the API key" if self.cfg.api_key else "anonymous access")
            return ClusterError(f"{method} {where}: authentication failed (401) for {who}: "
                                "fix the cluster's username/password or API key", status=401,
                                error_type=etype)
        if status == 403:
            need = f" grant the privilege {privilege}" if privilege else " grant the missing privilege"
            return ClusterError(f"{method} {where}: forbidden (403): {reason}:{need} to the backup user",
                                status=403, error_type=etype)
        if status == 404 and (etype == "index_not_found_exception"
                              or (index and not etype and "no handler" not in reason.lower())):
            return IndexNotFound(f"index {index or reason!r} not found at {self.describe()}: "
                                 "check the index name or pattern", status=404, error_type=etype)
        return ClusterError(f"{method} {where}: HTTP {status} {etype}: {reason}",
                            permanent=status < 500, status=status, error_type=etype)

    def json(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        return self.request(method, path, body, **kw).json()

    def close(self) -> None:
        for _, pool, _ in self.nodes:
            pool.close()


def connect(cfg: ClusterConfig) -> Connection:
    """Connect and identify the cluster (`GET /`); raises ClusterError saying what to fix."""
    conn = Connection(cfg)
    conn.identify()
    return conn


def index_path(name: str) -> str:
    """An index name as a URL path segment (names may hold characters like + or #)."""
    return "/" + quote(name, safe="*,")


def index_list_paths(names: Iterable[str], max_len: int = 3000) -> list[str]:
    """Comma-separated index lists as path segments, each short enough for a request line
    (Elasticsearch refuses lines over http.max_initial_line_length, 4 KB by default)."""
    paths: list[str] = []
    current = ""
    for name in names:
        q = quote(name, safe="")
        if current and len(current) + 1 + len(q) > max_len:
            paths.append("/" + current)
            current = ""
        current = f"{current},{q}" if current else q
    if current:
        paths.append("/" + current)
    return paths
