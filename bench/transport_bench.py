#!/usr/bin/env python3
"""Side by side: backups.elastic.connection.Connection (urllib3, hand-written round robin)
against elastic_transport.Transport (the `elasticsearch` package's transport: node pool,
dead-node backoff, retries) on one real node, for what the engine needs of it.

    .venv/bin/python bench/transport_bench.py [--target opensearch-2] [--n 100000] [--runs 3]

Measures, each transport in turn (alternating runs, best of --runs):
  - whether `_source` comes back as the server's bytes (1.50 and a 30-digit integer kept);
  - a full sliced-less scroll read of the index, pages of 5000 (docs/s, MB/s), the pages
    parsed by backups.elastic.hits.parse_page as the dump does;
  - `_bulk` writes of the same bodies into a fresh index (docs/s);
  - the import's cost in a fresh interpreter (seconds, peak RSS).
Paths are relative to the checkout; the node comes from tests/peers/clusters.py.
"""
from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import orjson

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


# -- the two transports, asked the same things --------------------------------------------
class Ours:
    name = "connection.py"

    def __init__(self, url: str) -> None:
        from backups.elastic.connection import ClusterConfig, Connection

        self.conn = Connection(ClusterConfig(urls=[url]))

    def raw(self, method: str, path: str, body: Any = None, ndjson: bytes | None = None) -> bytes:
        if ndjson is not None:
            return self.conn.request(method, path, raw=ndjson, ctype="application/x-ndjson").body
        return self.conn.request(method, path, body).body


class Theirs:
    name = "elastic_transport"

    def __init__(self, url: str) -> None:
        from elastic_transport import NodeConfig, Serializer, Transport

        class Raw(Serializer):
            """Answers stay bytes (what the dump needs); requests are JSON or given bytes."""
            mimetype = "application/json"

            def loads(self, data: bytes) -> Any:
                return data

            def dumps(self, data: Any) -> bytes:
                return data if isinstance(data, bytes) else orjson.dumps(data)

        host, port = url.split("://", 1)[1].split(":")
        self.t = Transport([NodeConfig("http", host, int(port))],
                           serializers={"application/json": Raw(), "application/x-ndjson": Raw()},
                           max_retries=6, retry_backoff_base=0.5, retry_backoff_cap=30, meta_header=False)

    def raw(self, method: str, path: str, body: Any = None, ndjson: bytes | None = None) -> bytes:
        ctype = "application/x-ndjson" if ndjson is not None else "application/json"
        data = ndjson if ndjson is not None else body
        headers = {"accept": "application/json", "content-type": ctype} if data is not None else {"accept": "application/json"}
        resp = self.t.perform_request(method, path, body=data, headers=headers)
        return resp.body if isinstance(resp.body, bytes) else orjson.dumps(resp.body)


# -- steps ------------------------------------------------------------------------------------
def seed(client: Ours, index: str, n: int) -> None:
    client.raw("PUT", f"/{index}", {"settings": {"number_of_shards": 1, "number_of_replicas": 0,
                                                 "refresh_interval": "-1"}})
    for start in range(0, n, 5000):
        lines = b"".join(b'{"index":{"_id":"%d"}}\n' % i + orjson.dumps(
            {"@timestamp": "2026-11-25T00:00:00Z", "n": i, "msg": f"message {i} " + "x" * 150, "v": 1.5})
            + b"\n" for i in range(start, min(n, start + 5000)))
        client.raw("POST", f"/{index}/_bulk", ndjson=lines)
    client.raw("POST", f"/{index}/_refresh")


def exact_source(client: Any, index: str) -> bool:
    body = b'{"price":1.50,"big":123456789012345678901234567890}'
    client.raw("PUT", f"/{index}", {"mappings": {"dynamic": False}})  # no mapping: the big integer is kept as sent
    # put the document as raw bytes so its digits are the server's to keep
    client.raw("POST", f"/{index}/_bulk?refresh=true", ndjson=b'{"index":{"_id":"exact"}}\n' + body + b"\n")
    got = client.raw("GET", f"/{index}/_doc/exact")
    return b"1.50" in got and b"123456789012345678901234567890" in got


def scroll_read(client: Any, index: str) -> tuple[float, int, int]:
    from backups.elastic.hits import parse_page

    t0 = time.perf_counter()
    page = parse_page(client.raw("POST", f"/{index}/_search?scroll=5m",
                                 {"size": 5000, "sort": ["_doc"], "track_total_hits": True}))
    docs, nbytes, sid = page.docs, len(page.lines), page.scroll_id
    while page.docs:
        page = parse_page(client.raw("POST", "/_search/scroll", {"scroll": "5m", "scroll_id": sid}))
        docs, nbytes, sid = docs + page.docs, nbytes + len(page.lines), page.scroll_id or sid
    client.raw("DELETE", "/_search/scroll", {"scroll_id": [sid]})
    return time.perf_counter() - t0, docs, nbytes


def bulk_write(client: Any, index: str, bodies: list[bytes]) -> float:
    client.raw("PUT", f"/{index}", {"settings": {"number_of_shards": 1, "number_of_replicas": 0,
                                                 "refresh_interval": "-1"}})
    t0 = time.perf_counter()
    for b in bodies:
        r = orjson.loads(client.raw("POST", f"/{index}/_bulk", ndjson=b))
        assert not r.get("errors"), str(r)[:300]
    took = time.perf_counter() - t0
    client.raw("DELETE", f"/{index}")
    return took


def import_cost(module: str) -> tuple[float, float]:
    """Seconds and MB of peak RSS that importing `module` adds to a fresh interpreter."""
    code = ("import resource,time; r=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss; t=time.perf_counter(); "
            f"import {module}; print(time.perf_counter()-t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss-r)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True).stdout.split()
    return float(out[0]), int(out[1]) / 1024


def best(runs: int, clients: list[Any], fn: Callable[[Any], float]) -> dict[str, float]:
    out: dict[str, list[float]] = {c.name: [] for c in clients}
    for i in range(runs):
        for c in clients if i % 2 == 0 else clients[::-1]:
            out[c.name].append(fn(c))
    return {k: min(v) for k, v in out.items()}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", default="opensearch-2")
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    from tests.peers.clusters import start_cluster

    with start_cluster(args.target) as server:
        clients: list[Any] = [Ours(server.url), Theirs(server.url)]
        seed(clients[0], "bench-src", args.n)
        print(f"target {args.target}, {args.n} documents; maxrss {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}")
        for c in clients:
            print(f"{c.name:18s} _source bytes kept (1.50, 30-digit integer): {exact_source(c, 'bench-exact-' + c.name.replace('.', '-').replace('_', '-'))}")
        sizes: dict[str, tuple[int, int]] = {}

        def read(c: Any) -> float:
            took, docs, nbytes = scroll_read(c, "bench-src")
            sizes[c.name] = (docs, nbytes)
            return took

        reads = best(args.runs, clients, read)
        lines = [b"".join(b'{"index":{"_id":"%d"}}\n' % i + orjson.dumps({"n": i, "msg": "m" * 150}) + b"\n"
                         for i in range(s, min(args.n, s + 5000))) for s in range(0, args.n, 5000)]
        writes = best(args.runs, clients, lambda c: bulk_write(c, f"bench-dst-{c.name.replace('.', '-').replace('_', '-')}", lines))
        print(f"{'transport':18s} {'read s':>8s} {'read docs/s':>12s} {'read MB/s':>10s} {'bulk s':>8s} "
              f"{'bulk docs/s':>12s} {'import s':>9s} {'import MB':>10s}")
        for c, module in zip(clients, ["backups.elastic.connection", "elastic_transport"], strict=True):
            docs, nbytes = sizes[c.name]
            imp_s, imp_mb = import_cost(module)
            print(f"{c.name:18s} {reads[c.name]:8.2f} {docs / reads[c.name]:12,.0f} {nbytes / reads[c.name] / 1e6:10.1f} "
                  f"{writes[c.name]:8.2f} {args.n / writes[c.name]:12,.0f} {imp_s:9.3f} {imp_mb:10.1f}")


if __name__ == "__main__":
    main()
