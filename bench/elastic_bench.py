#!/usr/bin/env python3
"""Benchmark: Stashboard's Elasticsearch dump/load against the KubeStash-style anchor
(elasticdump + restic) and the raw limits of the server, in one run on one server.

    python bench/elastic_bench.py [--target osmem|opensearch-2|opensearch-3|elasticsearch-8]
                                  [--n 200000] [--anchor ../shared/anchor-bench]
                                  [--anchor-home /tmp/anchor-bench] [--workdir /tmp/elastic-bench]

--target chooses the server (tests/peers/clusters.py: osmem-server, or a real node that
bin/search-node starts, with SEARCH_NODE_JAVA_OPTS=-XX:TieredStopAtLevel=4: full JIT);
every step, the anchor's included, runs against that one server. Untimed before the steps:
seed, settle (no merge, `_flush`: a stable commit id for (7)), the reference NDJSON
(also the read warm-up).

Steps (each in its own process, peak RSS measured per process; (5) runs first of the
writes, then (4) and (6), which are compared, in the order 4 6 6 4: a server's indexing
speed drifts over a run, and this order weighs drift on both alike):
  1 raw scroll read (anchor rawread.py, size 5000)      -> read limit
  2 elasticdump | restic backup --stdin                  -> anchor backup
  3 our dump into a local repository                     -> target >= 1.5x (2), >= 0.9x (1)
  4 raw _bulk write (anchor rawwrite.py, 2 senders)      -> write limit (mean of 2 runs)
  5 restic dump | elasticdump restore (--limit 5000)     -> anchor restore
  6 our restore (mean of 2 runs)                         -> target >= 1.0x (4)
  7 our second backup of the unchanged index             -> target <= 5% of (3)'s time
--incremental runs issue 18's scenario instead (no anchor tools needed): a first backup,
1% of the documents changed (a third each updated, added, deleted), a second backup read
as a delta (targets: <= 5% of the bytes read from the server, <= 20% of the time, the
repository grown by <= 3%), and its restore compared with the index.
Needs the anchor's setup (restic, elasticdump: `bash ../shared/anchor-bench/setup.sh`).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

PASSWORD = "bench-password"
INDEX = "bench-logs"


def dump_default(name: str) -> Any:
    from backups.elastic.dump import DumpParams

    return getattr(DumpParams(), name)


def load_default(name: str) -> Any:
    from restores.load import LoadParams

    return getattr(LoadParams(), name)


# -- child commands (run in their own process so peak RSS is theirs alone) ---------------
def _open_repo(path: str, create: bool, version: int = 0) -> Any:
    from storage.backends import open_backend
    from storage.repo import Repository

    backend = open_backend("local", root=path)
    if create:
        if version:
            return Repository.init(backend, PASSWORD, name="bench/elastic", version=version)
        return Repository.init(backend, PASSWORD, name="bench/elastic")
    return Repository.open(backend, PASSWORD, name="bench/elastic")


def child_dump(args: argparse.Namespace) -> dict[str, Any]:
    from backups.elastic.connection import ClusterConfig, connect
    from backups.elastic.dump import DumpParams, dump_cluster

    repo = _open_repo(args.repo, create=False)      # key derivation (KDF) not in "engine_secs"
    t = time.perf_counter()
    conn = connect(ClusterConfig(urls=[args.url]))
    waits: dict[str, list[float]] = {}
    received = _count_received(conn, waits)
    include = args.include or INDEX
    params = DumpParams(include=[include], batch_size=5000, max_slices=args.slices,
                        parallel_indices=args.parallel_indices, read_mode=args.read_mode)
    prev = repo.latest() if args.second else None
    with repo.writer(meta={"configuration": "bench"}) as w:
        res = dump_cluster(conn, w, params, previous=prev,
                           read_previous=(lambda name: repo.read_stream(prev, name, workers=1, window=2))
                           if args.incremental else None)
        w.commit(meta={"cluster": res.cluster_meta["cluster"], "cluster_metadata": res.cluster_meta,
                       "status": "Succeeded" if res.ok else "Failed"})
    engine = "storage.repo on a local directory"
    dt = time.perf_counter() - t
    # the one statistics request every dump makes (the skip decision needs it): on
    # osmem-server it visits every document, on a real engine it reads shard counters
    from backups.elastic.fingerprint import index_states

    t = time.perf_counter()
    index_states(conn, [include])
    stats = time.perf_counter() - t
    if args.include:   # many indices: the sums
        return {"ok": res.ok, "docs": res.docs, "bytes": res.bytes, "indices": len(res.indices), "engine_secs": dt,
                "skipped_unchanged": sum(bool(e["skipped_unchanged"]) for e in res.indices.values()),
                "parallel_indices": args.parallel_indices,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_secs": cpu_secs()}
    e = res.indices[INDEX]
    changed = None
    if prev is not None and not e["skipped_unchanged"]:
        # why the fingerprint moved: the signals that differ from the previous snapshot's
        a = prev.streams[f"indices/{INDEX}"].meta.get("fingerprint_signals") or {}
        b = repo.latest().streams[f"indices/{INDEX}"].meta.get("fingerprint_signals") or {}
        changed = _diff(a, b)
    return {"ok": res.ok, "docs": e["docs"], "bytes": e["bytes"], "engine_secs": dt, "engine": engine,
            "fingerprint_changed": changed,
            "server_stats_secs": stats,
            "skipped_unchanged": e["skipped_unchanged"], "error": e["error"],
            "read_mode": e.get("read_mode"), "slices": e.get("slices"),
            "mode": e.get("mode"), "reason": e.get("reason"), "docs_read": e.get("docs_read"),
            "docs_deleted": e.get("docs_deleted"), "server_bytes": received[0], "server_waits": waits,
            "deletions_from": repo.latest().streams[f"indices/{INDEX}"].meta.get("deletions_from"),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_secs": cpu_secs()}


def _count_received(conn: Any, waits: dict[str, list[float]] | None = None) -> list[int]:
    """Bytes of every response body the connection receives (the bytes read from the server);
    with `waits`, per kind of request (histogram, count, other) its number and the seconds
    spent waiting for it (threads overlap: a sum, not wall time)."""
    got = [0]
    request = conn.request

    def counting(*a: Any, **kw: Any) -> Any:
        t = time.perf_counter()
        r = request(*a, **kw)
        got[0] += len(r.body or b"")
        if waits is not None:
            body = a[2] if len(a) > 2 else kw.get("body")
            kind = "histogram" if isinstance(body, dict) and "aggs" in body else \
                "count" if isinstance(body, dict) and body.get("track_total_hits") is True else "other"
            w = waits.setdefault(kind, [0, 0.0])
            w[0] += 1
            w[1] = round(w[1] + time.perf_counter() - t, 3)
        return r

    conn.request = counting
    return got


class _RssSampler:
    """This process's resident memory every 0.1 s (VmRSS), handed back as the highest
    sample of each tenth of the run: whether memory grows with the documents or stays flat."""

    def __init__(self) -> None:
        import threading

        self.samples: list[float] = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.done.wait(0.1):
            with open("/proc/self/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        self.samples.append(int(line.split()[1]) / 1024)

    def stop(self) -> list[float]:
        self.done.set()
        self.thread.join()
        n = len(self.samples)
        return [round(max(self.samples[k * n // 10:max(k * n // 10 + 1, (k + 1) * n // 10)]), 1)
                for k in range(10)] if n >= 10 else [round(x, 1) for x in self.samples]


def _request_timeline(conn: Any, t0: float) -> Any:
    """When a restore's requests go out and are answered (s after t0): the first of each
    kind before the load, the first `_bulk` sent, the last answered, and each after it."""
    seen: dict[str, float] = {}
    lock = __import__("threading").Lock()
    request = conn.request

    def timed(method: str, path: str, *a: Any, **kw: Any) -> Any:
        kind = f"{method} {path.rsplit('/', 1)[-1] if '/_' in path else ('index' if path.count('/') == 1 else path)}"
        start = time.perf_counter() - t0
        r = request(method, path, *a, **kw)
        end = time.perf_counter() - t0
        with lock:
            if kind == "POST _bulk":
                seen.setdefault("bulk_first_sent", round(start, 3))
                seen["bulk_last_answered"] = round(end, 3)
            else:
                seen.setdefault(f"{kind} sent", round(start, 3))
                seen[f"{kind} answered"] = round(end, 3)
        return r

    conn.request = timed
    return lambda: dict(seen)


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b)) for p in _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def cpu_secs() -> float:
    """This process's CPU time (user + system, every thread): the client's share of a step."""
    r = resource.getrusage(resource.RUSAGE_SELF)
    return round(r.ru_utime + r.ru_stime, 2)


def child_init(args: argparse.Namespace) -> dict[str, Any]:
    _open_repo(args.repo, create=True, version=args.repo_version)
    return {"ok": True}


def child_restore(args: argparse.Namespace) -> dict[str, Any]:
    from backups.elastic.connection import ClusterConfig, connect
    from restores.load import LoadParams, load_snapshot

    conn = connect(ClusterConfig(urls=[args.url]))
    repo = _open_repo(args.repo, create=False)
    t, cpu0 = time.perf_counter(), cpu_secs()
    phases: dict[str, float] = {}     # when the index's load started, its first and last _bulk answer, done

    def progress(ev: Any) -> None:
        now = round(time.perf_counter() - t, 3)
        phases.setdefault("first_ack" if ev.phase == "data" else ev.phase, now)
        if ev.phase == "data":
            phases["last_ack"] = now

    if args.load_refresh:
        # experiment: the index's refresh_interval during the load (the product's is -1)
        from restores.load import settings as load_settings_mod

        plain = load_settings_mod.load_settings

        def with_refresh(snapshot_settings: dict[str, Any]) -> Any:
            settings, put_back = plain(snapshot_settings)
            settings.setdefault("index", {})["refresh_interval"] = args.load_refresh
            return settings, put_back

        load_settings_mod.load_settings = with_refresh  # type: ignore[assignment]
    timeline = _request_timeline(conn, t)
    rss = _RssSampler()
    m = repo.manifest("latest")
    res = load_snapshot(conn, m, open_stream=lambda n: repo.read_stream(m, n),
                        params=LoadParams(include=[INDEX], rename_pattern=f"^{INDEX}$",
                                          rename_replacement="bench-ours", workers=args.workers,
                                          bulk_bytes=args.bulk_bytes, metadata_kinds=(), progress=progress))
    dt = time.perf_counter() - t
    e = res.indices["bench-ours"]
    phases.update(timeline())
    rss_curve = rss.stop()
    return {"ok": res.ok, "docs": e["docs"], "count": e.get("count"), "engine_secs": dt, "phases": phases,
            "engine_cpu_secs": round(cpu_secs() - cpu0, 2), "rss_mb_by_tenth": rss_curve,
            "error": e["error"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "cpu_secs": cpu_secs()}


# -- orchestration ----------------------------------------------------------------------
def run(cmd: list[str] | str, env: dict[str, str] | None = None, shell: bool = False) -> tuple[float, str, float]:
    """(wall seconds, stdout, peak RSS MB of the largest child) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t = time.perf_counter()
    p = subprocess.run(cmd, env={**os.environ, **(env or {})}, shell=shell, capture_output=True, check=False,
                       executable="/bin/bash" if shell else None)
    dt = time.perf_counter() - t
    if p.returncode:
        raise SystemExit(f"{cmd!r} failed ({p.returncode}): {p.stderr.decode()[-3000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dt, p.stdout.decode(), max(after, before) / 1024


def server_work(url: str) -> dict[str, int]:
    """The node's own counters (ms): process CPU, and time spent indexing, refreshing,
    merging, flushing; the difference over a step is the server's work for it, which
    the machine's load moves far less than the step's wall time."""
    try:
        st = next(iter(_get_json(f"{url}/_nodes/_local/stats/process,indices")["nodes"].values()))
    except Exception:  # noqa: BLE001 - osmem has no node stats
        return {}
    ix = st.get("indices") or {}
    return {"cpu": st["process"]["cpu"]["total_in_millis"],
            "index": ix.get("indexing", {}).get("index_time_in_millis", 0),
            "refresh": ix.get("refresh", {}).get("total_time_in_millis", 0),
            "merge": ix.get("merges", {}).get("total_time_in_millis", 0),
            "flush": ix.get("flush", {}).get("total_time_in_millis", 0)}


def work_since(url: str, before: dict[str, int]) -> dict[str, float]:
    after = server_work(url)
    return {k: round((after[k] - before[k]) / 1000, 2) for k in before}


def timed_rss(cmd: str, outfile: str) -> str:
    """Wrap a pipeline stage with GNU time to get that stage's own peak RSS."""
    return f"/usr/bin/time -f %M -o {outfile} {cmd}"


def rss_of(outfile: str) -> float:
    with open(outfile) as f:
        return int(f.read().strip().splitlines()[-1]) / 1024


def _get_json(url: str, method: str = "GET") -> Any:
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=600) as r:
        return json.loads(r.read())


def settle(url: str, timeout: float = 600.0) -> dict[str, Any]:
    """Wait until the index has no merge running, flush, and repeat until its shards'
    commit ids stay the same for 5 s with no merge: the steady state of an idle index."""
    t = time.perf_counter()
    last = None
    while time.perf_counter() - t < timeout:
        st = _get_json(f"{url}/{INDEX}/_stats/merge?level=shards")["indices"][INDEX]
        merging = (st.get("primaries", {}).get("merges") or {}).get("current", 0)
        commits = sorted(str((c.get("commit") or {}).get("id")) for cs in (st.get("shards") or {}).values()
                         for c in cs)
        if not merging and commits == last:
            break
        if not merging:
            _get_json(f"{url}/{INDEX}/_flush", "POST")
            st = _get_json(f"{url}/{INDEX}/_stats/merge?level=shards")["indices"][INDEX]
            last = sorted(str((c.get("commit") or {}).get("id")) for cs in (st.get("shards") or {}).values()
                          for c in cs)
        else:
            last = None
        time.sleep(5)
    return {"secs": round(time.perf_counter() - t, 1), "commit_ids": last}


def load_avg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def profile_top(path: str, ours: tuple[str, ...] = ("backups/", "restores/", "storage/"), k: int = 12) -> dict[str, Any]:
    """The top entries of a py-spy raw (collapsed stacks) profile: own time per function
    (where the samples were), and time inside our own functions (inclusive)."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    with open(path) as f:
        for line in f:
            stack, _, n = line.rstrip("\n").rpartition(" ")
            if not stack or not n.isdigit():
                continue
            c = int(n)
            total += c
            frames = stack.split(";")
            own[frames[-1]] = own.get(frames[-1], 0) + c
            for fr in set(frames):
                if any(o in fr for o in ours):
                    incl[fr] = incl.get(fr, 0) + c

    def top(d: dict[str, int]) -> list[str]:
        return [f"{100 * v / max(total, 1):.1f}% {key}" for key, v in sorted(d.items(), key=lambda kv: -kv[1])[:k]]

    return {"samples": total, "own": top(own), "inclusive_ours": top(incl)}


def bench(args: argparse.Namespace) -> None:
    from tests.peers.clusters import start_cluster

    ed = os.path.join(args.anchor_home, "node/node_modules/.bin/elasticdump")
    if not args.incremental and (not os.path.exists(ed) or not shutil.which("restic")):
        raise SystemExit(f"elasticdump or restic missing: run `bash {args.anchor}/setup.sh {args.anchor_home}`")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    res: dict[str, dict[str, Any]] = {}
    # bin/search-node runs the JVM with -XX:TieredStopAtLevel=1 (C1 only: fast start, lower
    # peak throughput); SEARCH_NODE_JAVA_OPTS is appended after it, so a benchmark node
    # gets the full JIT (C2) unless the caller sets the variable itself
    java_opts = os.environ.setdefault("SEARCH_NODE_JAVA_OPTS", "-XX:TieredStopAtLevel=4")
    with start_cluster(args.target) as server:
        print(f"[{time.strftime('%T')}] target: {args.target} at {server.url}"
              + ("" if args.target in ("osmem", "external") else f" (SEARCH_NODE_JAVA_OPTS={java_opts})"), flush=True)
        b = _Bench(args, server.url, ed, res)
        if args.incremental:
            b.incremental()
            return
        b.steps()
    b.summary()


class _Bench:
    def __init__(self, args: argparse.Namespace, url: str, ed: str, res: dict[str, dict[str, Any]]) -> None:
        self.args, self.url, self.ed, self.res = args, url, ed, res
        self.W = args.workdir
        self.py = sys.executable
        self.me = [self.py, os.path.abspath(__file__)]
        self.env = {"ES_URL": url, "PYTHONPATH": args.anchor, "RESTIC_PASSWORD": "bench-anchor",
                    "RESTIC_CACHE_DIR": f"{self.W}/restic-cache"}
        self.ref = f"{self.W}/ref.ndjson"
        self.doc_bulk_bytes = 680.0   # bulk bytes per document, measured on the reference file

    def log(self, step: str, r: dict[str, Any]) -> dict[str, Any]:
        r = {**r, "load_avg": load_avg()}
        self.res[step] = r
        print(f"[{time.strftime('%T')}] {step}: " + json.dumps(r), flush=True)
        return r

    def steps(self) -> None:
        a, W, py, env, url = self.args, self.W, self.py, self.env, self.url
        dt, out, _ = run([py, f"{a.anchor}/seed.py", "--n", str(a.n), "--url", url, "--index", INDEX], env)
        self.log("seed", {"secs": round(dt, 1), **json.loads(out.strip().splitlines()[-1])})
        # a real engine keeps merging the freshly written segments for a while; untimed, so
        # that (1)-(3) read a quiet index. (7) runs after a forced merge: see there
        self.log("settle", settle(url))
        # reference NDJSON for the write steps (not timed). Read first: it is also the
        # warm-up of the server's read path (JIT compilation, page cache), which would
        # otherwise be paid by (1) alone and flatter (3) against it
        run([py, f"{a.anchor}/rawread.py", "--index", INDEX, "--mode", "scroll", "--out", self.ref], env)
        with open(self.ref, "rb") as f:
            first = [next(f) for _ in range(1000)]
        # a bulk line pair: the action (~40 bytes) and the source of a reference line
        self.doc_bulk_bytes = sum(len(x) for x in first) / len(first) - len(b',"_index":"bench-logs"') + 40 - 25
        if a.many_only:
            self.many()
            return
        if a.reads_only:
            self.raw_reads()
        if not (a.backups_only or a.rss_only or a.writes_only or a.reads_only):
            self.raw_reads()
            self.anchor_backup()
        run(self.me + ["init", "--repo", f"{W}/repo", "--repo-version", str(a.repo_version)])
        dt, out, _ = run(self.me + ["dump", "--url", url, "--repo", f"{W}/repo", "--slices", str(a.slices)])
        self.log("3_our_dump", {**json.loads(out), "secs": dt})
        if a.reads_only:
            self.reads_alone()
        if a.writes_only:
            self.writes_alone()
        if a.reads_only or a.writes_only:
            return
        if a.rss_only:
            self.res["6_our_restore"] = self.our_restore(1)
            return
        if a.backups_only:
            self.second_backup()
            return
        if not a.skip_anchor_restore:
            self.anchor_restore()
        if a.sweep:
            self.sweep()
        self.writes()
        self.second_backup()
        if a.many:
            self.many()
        if a.profile:
            self.profiles()

    def incremental(self) -> None:
        """Issue 18: a first backup of --n documents, then 1% of them changed (a third updated,
        a third added, a third deleted), a second backup read as a delta; its restore against
        the index's documents (anchor verify.py)."""
        a, W, py, env, url = self.args, self.W, self.py, self.env, self.url
        dt, out, _ = run([py, f"{a.anchor}/seed.py", "--n", str(a.n), "--url", url, "--index", INDEX], env)
        self.log("seed", {"secs": round(dt, 1), **json.loads(out.strip().splitlines()[-1])})
        self.log("settle", settle(url))
        run([py, f"{a.anchor}/rawread.py", "--index", INDEX, "--mode", "scroll", "--out", self.ref], env)   # warm-up
        run(self.me + ["init", "--repo", f"{W}/repo"])
        dump = self.me + ["dump", "--url", url, "--repo", f"{W}/repo", "--slices", str(a.slices), "--incremental"]
        dt, out, _ = run(dump)
        first = self.log("i1_first_backup", {**json.loads(out), "secs": dt, "repo_bytes": _du(f"{W}/repo")})
        self.log("i2_change", change_one_percent(url, self.ref, a.n))
        if a.profile:   # the same second backup again, untimed, under py-spy: on a copy of the repository as it is now
            shutil.copytree(f"{W}/repo", f"{W}/repo-prof")
        dt, out, _ = run([*dump, "--second"])
        second = self.log("i3_second_backup", {**json.loads(out), "secs": dt, "repo_bytes": _du(f"{W}/repo")})
        if a.profile:
            self.profile("i3_second_backup", ["dump", "--url", url, "--repo", f"{W}/repo-prof", "--slices",
                                              str(a.slices), "--incremental", "--second"])
        ref2 = f"{W}/ref-after.ndjson"
        run([py, f"{a.anchor}/rawread.py", "--index", INDEX, "--mode", "scroll", "--out", ref2], env)
        dt, out, _ = run(self.me + ["restore", "--url", url, "--repo", f"{W}/repo", "--workers", str(a.workers),
                                    "--bulk-bytes", str(a.bulk_bytes)])
        _, ver, _ = run([py, f"{a.anchor}/verify.py", ref2, "--index", "bench-ours"], env)
        v = json.loads(ver)
        self.log("i4_restore", {**json.loads(out), "secs": dt, "verify": v})
        exact = v["missing"] == 0 and v["extra"] == 0 and v["semantic_diff_docs"] == 0
        print(f"\nsecond backup: mode {second['mode']}, {second['docs_read']} documents read, "
              f"{second['docs_deleted']} deleted, found by {second.get('deletions_from')} ({second.get('reason') or ''})")
        print(f"bytes read from the server, second / first: {100 * second['server_bytes'] / first['server_bytes']:.2f}%"
              "  (target <= 5%)")
        print(f"time, second / first: {100 * second['engine_secs'] / first['engine_secs']:.1f}% engine, "
              f"{100 * second['secs'] / first['secs']:.1f}% wall  (target <= 20%)")
        print(f"repository growth / first snapshot: "
              f"{100 * (second['repo_bytes'] - first['repo_bytes']) / first['repo_bytes']:.2f}%  (target <= 3%)")
        print(f"restore of the second snapshot equals the index: {exact}; peak RSS first {first['peak_rss_mb']:.0f} MB, "
              f"second {second['peak_rss_mb']:.0f} MB, restore {json.loads(out)['peak_rss_mb']:.0f} MB "
              "(each its own process; target <= 150 MB)")

    def raw_reads(self) -> None:
        """(1): the best of a scroll, sliced scrolls (one per shard) and a PIT, page size 5000."""
        a, W = self.args, self.W
        best = None
        for mode in ("scroll", "slices", "pit"):
            try:
                dt, _, _ = run(timed_rss(f"{self.py} {a.anchor}/rawread.py --index {INDEX} --mode {mode} --size 5000 "
                                         f"--slices 2 --out /dev/null", f"{W}/1.rss"), self.env, shell=True)
            except SystemExit as e:   # e.g. the OpenSearch PIT API on Elasticsearch
                self.log(f"1_raw_read {mode}", {"failed": str(e)[-200:]})
                continue
            r = self.log(f"1_raw_read {mode}", {"secs": dt, "docs": a.n, "peak_rss_mb": rss_of(f"{W}/1.rss")})
            if best is None or dt < best["secs"]:
                best = {**r, "mode": mode}
        assert best is not None
        self.res["1_raw_read_best"] = best

    def anchor_backup(self) -> None:
        W, url = self.W, self.url
        run(["restic", "-r", f"{W}/restic", "init", "-q"], self.env)
        sb = '{"query":{"match_all":{}},"track_total_hits":true}'
        cmd = (timed_rss(f"{self.ed} --input={url}/{INDEX} --output=$ --type=data --searchBody='{sb}'", f"{W}/2a.rss")
               + " 2>/dev/null | " + timed_rss(f"restic -r {W}/restic backup --stdin --stdin-filename {INDEX}.json -q",
                                               f"{W}/2b.rss"))
        dt, _, _ = run(cmd, self.env, shell=True)
        self.log("2_elasticdump_restic_backup", {"secs": dt, "docs": self.args.n,
                                                 "peak_rss_mb": [rss_of(f"{W}/2a.rss"), rss_of(f"{W}/2b.rss")]})

    def anchor_restore(self) -> None:
        """(5) at elasticdump's --limit 5000 (its best here: 1000 and 10000 were slower in the
        runs of issue 17; elasticdump sends one bulk at a time)."""
        W, url, py, env = self.W, self.url, self.py, self.env
        run([py, "-c", f"import common; common.clone_index('{INDEX}', 'bench-restore')"], env)
        cmd = (timed_rss(f"restic -r {W}/restic dump latest {INDEX}.json", f"{W}/5a.rss") + " | "
               + timed_rss(f"{self.ed} --input=$ --output={url}/bench-restore --type=data --limit 5000", f"{W}/5b.rss")
               + " >/dev/null 2>&1")
        dt, _, _ = run(cmd, env, shell=True)
        _, out, _ = run([py, "-c", "import common; print(common.count('bench-restore'))"], env)
        _, ver, _ = run([py, f"{self.args.anchor}/verify.py", self.ref, "--index", "bench-restore"], env)
        self.log("5_restic_elasticdump_restore", {"secs": dt, "count": int(out), "verify": json.loads(ver)["missing"],
                                                  "peak_rss_mb": [rss_of(f"{W}/5a.rss"), rss_of(f"{W}/5b.rss")]})
        run(["curl", "-s", "-XDELETE", f"{url}/bench-restore"])

    def raw_write(self, label: str, senders: int, mb: float, ref: str = "") -> dict[str, Any]:
        batch = max(1, int(mb * 1e6 / self.doc_bulk_bytes))
        before, work = resource.getrusage(resource.RUSAGE_CHILDREN), server_work(self.url)
        dt, out, _ = run(timed_rss(f"{self.py} {self.args.anchor}/rawwrite.py {ref or self.ref} --index bench-rawwrite "
                                   f"--like {INDEX} --batch {batch} --senders {senders}", f"{self.W}/4.rss"),
                         self.env, shell=True)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        r = json.loads(out.strip().splitlines()[-1])
        # the client's CPU (its sender processes too), as cpu_secs of ours
        r["cpu_secs"] = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
        r["server_secs"] = work_since(self.url, work)
        run(["curl", "-s", "-XDELETE", f"{self.url}/bench-rawwrite"])
        # rawwrite's own "secs" leaves out its process start and index creation: the
        # stricter limit, used as the engine time; "secs" is the wall time as elsewhere
        return self.log(label, {**r, "engine_secs": r["secs"], "secs": dt, "senders": senders, "bulk_mb": mb,
                                "batch_docs": batch, "peak_rss_mb": rss_of(f"{self.W}/4.rss")})

    def sweep(self) -> None:
        """The raw writer's knee: 1, 2, 4, 8 senders x 5, 10, 20 MB bulks, each run on the first
        --sweep-docs reference documents (a rate: docs/s compare across sizes)."""
        n = min(self.args.sweep_docs or self.args.n, self.args.n)
        ref = f"{self.W}/ref-sweep.ndjson"
        with open(self.ref, "rb") as src, open(ref, "wb") as dst:
            for _ in range(n):
                dst.write(next(src))
        grid = {}
        for mb in (5, 10, 20):
            for senders in (1, 2, 4, 8):
                grid[(senders, mb)] = self.raw_write(f"sweep {senders}x{mb}MB", senders, mb, ref)["engine_secs"]
        (s, mb), best = min(grid.items(), key=lambda kv: kv[1])
        self.res["sweep"] = {"best": f"{s} senders x {mb} MB", "docs": n,
                             "grid_docs_per_s": {f"{k[0]}x{k[1]}MB": round(n / v) for k, v in grid.items()}}
        print("sweep:", json.dumps(self.res["sweep"]), flush=True)
        self.knee = (s, mb)

    def code(self, checkout: str = "") -> list[str]:
        """The bench's child commands from this checkout, or from another (--baseline)."""
        return [self.py, os.path.join(checkout, "bench", "elastic_bench.py")] if checkout else self.me

    def our_restore(self, k: int, repo: str = "", step: str = "6_our_restore", extra: tuple[str, ...] = (),
                    checkout: str = "") -> dict[str, Any]:
        a = self.args
        before = server_work(self.url)
        dt, out, _ = run(self.code(checkout) + ["restore", "--url", self.url, "--repo", repo or f"{self.W}/repo", "--workers",
                                    str(a.workers), "--bulk-bytes", str(a.bulk_bytes), *extra])
        work = work_since(self.url, before)   # before the verifier reads the index
        _, ver, _ = run([self.py, f"{a.anchor}/verify.py", self.ref, "--index", "bench-ours"], self.env)
        run(["curl", "-s", "-XDELETE", f"{self.url}/bench-ours"])
        v = json.loads(ver)
        assert v["missing"] == 0 and v["extra"] == 0 and v["semantic_diff_docs"] == 0, v
        return self.log(f"{step} run {k}", {**json.loads(out), "secs": dt, "verify": "exact",
                                            "server_secs": work})

    def writes(self) -> None:
        """(4) at the knee (or at ours) and (6) in the order 4 6 6 4: a server's indexing speed
        drifts over a run (merges), and an ABBA order weighs the drift on both alike."""
        a = self.args
        senders, mb = getattr(self, "knee", (a.raw_senders or a.workers, a.raw_bulk_mb or a.bulk_bytes / 1e6))
        runs = {"4_raw_bulk_write": [self.raw_write("4_raw_bulk_write run 1", senders, mb)],
                "6_our_restore": [self.our_restore(1)]}
        runs["6_our_restore"].append(self.our_restore(2))
        runs["4_raw_bulk_write"].append(self.raw_write("4_raw_bulk_write run 2", senders, mb))
        for step, rs in runs.items():
            self.res[step] = {**rs[-1], "secs": sum(r["secs"] for r in rs) / 2,
                              "engine_secs": sum(r["engine_secs"] for r in rs) / 2,
                              "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "runs_secs": [r["secs"] for r in rs],
                              "load_avg": [r["load_avg"] for r in rs]}

    def writes_alone(self) -> None:
        """--writes-only: (4) and (6) alone, in rounds of raw, ours, ours, raw (and, with
        --also-v1, ours from a format v1 repository of the same dump beside each of ours)."""
        a, W = self.args, self.W
        if a.sweep:
            self.sweep()
        repos: dict[str, tuple[str, tuple[str, ...], str]] = {"6_our_restore": (f"{W}/repo", (), "")}
        if a.baseline:
            repos["6_our_restore_baseline"] = (f"{W}/repo", (), a.baseline)
        for r in filter(None, a.also_refresh.split(",")):
            repos[f"6_our_restore_refresh_{r}"] = (f"{W}/repo", ("--load-refresh", r), "")
        if a.also_v1:
            run(self.me + ["init", "--repo", f"{W}/repo-v1", "--repo-version", "1"])
            dt, out, _ = run(self.me + ["dump", "--url", self.url, "--repo", f"{W}/repo-v1", "--slices", str(a.slices)])
            self.log("3_our_dump v1", {**json.loads(out), "secs": dt})
            repos["6_our_restore_v1"] = (f"{W}/repo-v1", (), "")
        senders, mb = getattr(self, "knee", (a.raw_senders or a.workers, a.raw_bulk_mb or a.bulk_bytes / 1e6))
        runs: dict[str, list[dict[str, Any]]] = {"4_raw_bulk_write": []}
        for k in range(1, a.rounds + 1):
            runs["4_raw_bulk_write"].append(self.raw_write(f"4_raw_bulk_write run {k}", senders, mb))
            for order in (list(repos), list(reversed(repos))):
                for step in order:
                    runs.setdefault(step, []).append(self.our_restore(len(runs.get(step, [])) + 1, repos[step][0], step,
                                                                      repos[step][1], repos[step][2]))
            runs["4_raw_bulk_write"].append(self.raw_write(f"4_raw_bulk_write run {k}b", senders, mb))
        raw = runs["4_raw_bulk_write"]
        print(f"\nraw writer at {senders} senders x {mb:g} MB: engine s {[r['engine_secs'] for r in raw]}; "
              f"cpu s {[r.get('cpu_secs') for r in raw]}; server s {[r.get('server_secs') for r in raw]}")
        for step, rs in runs.items():
            if step == "4_raw_bulk_write":
                continue
            # each of ours against the raw runs on either side of it (same round)
            ratios = []
            for i, r in enumerate(rs):
                rnd = i // 2
                ref = (raw[2 * rnd]["engine_secs"] + raw[2 * rnd + 1]["engine_secs"]) / 2
                ratios.append(round(ref / r["engine_secs"], 3))
            mean_raw = sum(r["engine_secs"] for r in raw) / len(raw)
            mean = sum(r["engine_secs"] for r in rs) / len(rs)
            print(f"[engine] {step}: s {[round(r['engine_secs'], 2) for r in rs]}, vs raw per round {ratios}, "
                  f"means {mean_raw / mean:.3f}x; peak RSS {max(r['peak_rss_mb'] for r in rs):.0f} MB; "
                  f"cpu s {[r.get('engine_cpu_secs') for r in rs]}; server s {[r.get('server_secs') for r in rs]}; "
                  f"phases {[r.get('phases') for r in rs]}; load {[r['load_avg'] for r in rs]}")
        if a.profile:
            self.profiles(("6_our_restore",) if a.reads_only else ("3_our_dump", "6_our_restore"))

    def reads_alone(self) -> None:
        """--reads-only (target 17.1): after (1) and (3) once, --rounds rounds of the best raw
        read, our dump in each --dump-variants, the same in reverse, the best raw read
        (each dump into a new repository). A variant is a read mode (auto, scroll, pit),
        "+ids" for the id and sequence lists a product dump writes (dump --incremental)."""
        a, W = self.args, self.W
        mode = self.res["1_raw_read_best"]["mode"]
        raws = [self.res["1_raw_read_best"]["secs"]]
        variants = [v for v in a.dump_variants.split(",") if v]
        ours: dict[str, list[float]] = {v: [] for v in variants}

        def raw() -> None:
            before, work = resource.getrusage(resource.RUSAGE_CHILDREN), server_work(self.url)
            dt, _, _ = run(timed_rss(f"{self.py} {a.anchor}/rawread.py --index {INDEX} --mode {mode} --size 5000 "
                                     f"--slices 2 --out /dev/null", f"{W}/1.rss"), self.env, shell=True)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = round(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime, 2)
            raws.append(self.log(f"1_raw_read {mode} round", {"secs": dt, "peak_rss_mb": rss_of(f"{W}/1.rss"),
                                                               "cpu_secs": cpu, "server_secs": work_since(self.url, work)})["secs"])

        def dump(variant: str) -> None:
            shutil.rmtree(f"{W}/repo", ignore_errors=True)
            run(self.me + ["init", "--repo", f"{W}/repo", "--repo-version", str(a.repo_version)])
            base, _, rest = variant.rpartition(":")
            read_mode, _, ids = rest.partition("+")
            work = server_work(self.url)
            dt, out, _ = run(self.code(a.baseline if base else "") + ["dump", "--url", self.url, "--repo", f"{W}/repo", "--slices", str(a.slices),
                                        *(["--read-mode", read_mode] if read_mode != "auto" else []),
                                                                      *(["--incremental"] if ids else [])])
            ours[variant].append(self.log(f"3_our_dump {variant}", {**json.loads(out), "secs": dt,
                                                                    "server_secs": work_since(self.url, work)})["engine_secs"])

        for _ in range(a.rounds):
            raw()
            for v in variants + variants[::-1]:
                dump(v)
            raw()
        mean_raw = sum(raws) / len(raws)
        print(f"\n[engine] raw {mode} s {[round(x, 2) for x in raws]} (wall, process start included)")
        for v, xs in ours.items():
            print(f"[engine] ours {v}: s {[round(x, 2) for x in xs]}: means {mean_raw / (sum(xs) / len(xs)):.3f}x, "
                  f"best {min(raws) / min(xs):.3f}x  (target >= 0.9x)")
        print(f"load {load_avg()}")
        if a.profile:
            self.profiles(("3_our_dump",))

    def second_backup(self) -> None:
        """(7) after a forced merge to one segment and a flush (untimed): a new Lucene commit,
        deleted documents expunged, as a background merge of an idle index does."""
        _get_json(f"{self.url}/{INDEX}/_forcemerge?max_num_segments=1", "POST")
        _get_json(f"{self.url}/{INDEX}/_flush?force=true", "POST")
        dt, out, _ = run(self.me + ["dump", "--url", self.url, "--repo", f"{self.W}/repo", "--second"])
        self.log("7_our_second_backup", {**json.loads(out), "secs": dt, "after": "_forcemerge + _flush"})

    def many(self) -> None:
        """Many small indices: --many indices of --many-docs documents, dumped one at a time
        and several at once (--parallel-indices), each into a new repository."""
        a = self.args
        t = time.perf_counter()
        seed_many(self.url, self.ref, a.many, a.many_docs)
        self.log("many_seed", {"secs": round(time.perf_counter() - t, 1), "indices": a.many, "docs_each": a.many_docs})
        # the server's own limit for this data: every index read at once by the raw reader
        # (one scroll over the pattern, or sliced), the ceiling any parallel dump can reach
        for mode in ("scroll", "slices"):
            dt, _, _ = run(timed_rss(f"{self.py} {a.anchor}/rawread.py --index 'bench-many-*' --mode {mode} "
                                     f"--size 5000 --slices 2 --out /dev/null", f"{self.W}/many.rss"), self.env, shell=True)
            self.log(f"many_raw_read {mode}", {"secs": dt, "docs": a.many * a.many_docs})
        for k, par in enumerate((1, a.parallel_indices, 1, a.parallel_indices)):   # ABBA again
            repo = f"{self.W}/repo-many-{k}"
            run(self.me + ["init", "--repo", repo])
            dt, out, _ = run(self.me + ["dump", "--url", self.url, "--repo", repo, "--include", "bench-many-*",
                                        "--parallel-indices", str(par)])
            self.log(f"many_dump parallel_indices={par} run {k // 2 + 1}", {**json.loads(out), "secs": dt})
            shutil.rmtree(repo, ignore_errors=True)

    def profiles(self, steps: tuple[str, ...] = ("3_our_dump", "6_our_restore")) -> None:
        """py-spy of (3) and (6), in runs of their own."""
        a = self.args
        read_mode, _, ids = (a.dump_variants.split(",")[0] if a.reads_only else a.read_mode).partition("+")
        if "3_our_dump" in steps:
            run(self.me + ["init", "--repo", f"{self.W}/repo-prof"])
            self.profile("3_our_dump", ["dump", "--url", self.url, "--repo", f"{self.W}/repo-prof", "--slices",
                                        str(a.slices), *(["--read-mode", read_mode] if read_mode != "auto" else []),
                                        *(["--incremental"] if ids else [])])
        if "6_our_restore" in steps:
            self.profile("6_our_restore", ["restore", "--url", self.url, "--repo", f"{self.W}/repo", "--workers",
                                           str(a.workers), "--bulk-bytes", str(a.bulk_bytes)])

    def profile(self, step: str, cmd: list[str]) -> None:
        """py-spy (every thread, 100 samples/s, subprocesses too) of one child command, untimed."""
        a, d = self.args, self.args.profile
        os.makedirs(d, exist_ok=True)
        spy = os.path.join(os.path.dirname(self.py), "py-spy")
        out = f"{d}/{a.target}-{step}.txt"
        run([spy, "record", "--format", "raw", "--rate", "100", "--subprocesses", "--nonblocking", "-o", out,
             "--", *self.me, *cmd])
        run(["curl", "-s", "-XDELETE", f"{self.url}/bench-ours"])
        top = profile_top(out)
        self.res[f"profile {step}"] = top
        print(f"profile {step} ({out}):\n  own:\n    " + "\n    ".join(top["own"])
              + "\n  inclusive (ours):\n    " + "\n    ".join(top["inclusive_ours"]), flush=True)

    def summary(self) -> None:
        res, n = self.res, self.args.n
        if self.args.many_only:
            self.many_summary()
            return
        if self.args.writes_only or self.args.reads_only:
            return
        if self.args.rss_only:
            print(f"\nour peak RSS: dump {res['3_our_dump']['peak_rss_mb']:.0f} MB, restore "
                  f"{res['6_our_restore']['peak_rss_mb']:.0f} MB (target <= 150 MB), {n:,} documents")
            return
        if self.args.backups_only:
            first, second = res["3_our_dump"], res["7_our_second_backup"]
            print(f"\n[engine] (7) / (3) time: {second['engine_secs']:.3f} s / {first['engine_secs']:.2f} s = "
                  f"{100 * second['engine_secs'] / first['engine_secs']:.1f}%  (target <= 2%); skipped unchanged: "
                  f"{second['skipped_unchanged']}; load {first['load_avg']} / {second['load_avg']}")
            return
        s = {k: float(v.get("secs") or 0) for k, v in res.items() if isinstance(v, dict) and "secs" in v}
        e = {k: float(v.get("engine_secs", v.get("secs")) or 0) for k, v in res.items()
             if isinstance(v, dict) and "secs" in v}
        print("\n| step | wall s | docs/s | engine s (ours: after process start and key derivation) | peak RSS MB "
              "| load avg |")
        print("|---|---|---|---|---|---|")
        for k, v in sorted(res.items()):
            if k in ("seed", "settle") or " run " in k or k.startswith(("profile", "1_raw_read ", "many", "sweep")):
                continue
            print(f"| {k} | {v['secs']:.2f} | {n / v['secs']:,.0f} | {e[k]:.2f} | {v.get('peak_rss_mb')} "
                  f"| {v.get('load_avg')} |")
        print()
        for label, x in (("wall", s), ("engine", e)):
            print(f"[{label}] (3) vs (2): {x['2_elasticdump_restic_backup'] / x['3_our_dump']:.2f}x  (target >= 2x)")
            print(f"[{label}] (3) vs (1) best raw read ({res['1_raw_read_best']['mode']}): "
                  f"{x['1_raw_read_best'] / x['3_our_dump']:.2f}x  (target >= 0.9x)")
            if "5_restic_elasticdump_restore" in x:
                print(f"[{label}] (6) vs (5): {x['5_restic_elasticdump_restore'] / x['6_our_restore']:.2f}x  "
                      "(target >= 1.5x)")
            w = res["4_raw_bulk_write"]
            print(f"[{label}] (6) vs (4) raw at {w['senders']} senders x {w['bulk_mb']:g} MB: "
                  f"{x['4_raw_bulk_write'] / x['6_our_restore']:.2f}x  (target >= 1.0x)")
            print(f"[{label}] (7) / (3) time: {100 * x['7_our_second_backup'] / x['3_our_dump']:.1f}%  (target <= 2%)")
        self.many_summary()
        print(f"our peak RSS: dump {res['3_our_dump']['peak_rss_mb']:.0f} MB, restore "
              f"{res['6_our_restore']['peak_rss_mb']:.0f} MB, second {res['7_our_second_backup']['peak_rss_mb']:.0f} MB "
              "(target <= 150 MB)")
        print(f"(3) repository engine: {res['3_our_dump']['engine']}; target: {self.args.target}; "
              f"ours: {self.args.workers} workers x {self.args.bulk_bytes / 1e6:g} MB bulks")

    def many_summary(self) -> None:
        """Target 17.4: many small indices, one at a time against several at once and the raw limit."""
        res = self.res
        many = {k: v for k, v in res.items() if k.startswith("many_dump")}
        if many:
            one = [v["engine_secs"] for k, v in many.items() if "parallel_indices=1 " in k]
            par = [v["engine_secs"] for k, v in many.items() if "parallel_indices=1 " not in k]
            print(f"[engine] many indices: one at a time {sum(one) / len(one):.2f} s, several at once "
                  f"{sum(par) / len(par):.2f} s: {sum(one) / sum(par):.2f}x  (target >= 3x); peak RSS "
                  f"{max(v['peak_rss_mb'] for v in many.values()):.0f} MB")
            raw = min(v["secs"] for k, v in res.items() if k.startswith("many_raw_read"))
            print(f"[engine] many indices: the raw reader reads them all in {raw:.2f} s (wall, its process start included); one at a time is "
                  f"{raw / (sum(one) / len(one)):.2f}x of that limit, several at once {raw / (sum(par) / len(par)):.2f}x "
                  f"(3x one at a time would need {3 * raw / (sum(one) / len(one)):.2f}x the raw limit)")


def _du(path: str) -> int:
    return sum(os.path.getsize(os.path.join(d, f)) for d, _, files in os.walk(path) for f in files)


def change_one_percent(url: str, ref: str, n: int) -> dict[str, Any]:
    """1% of the index changed: a third of it updated in place, a third added, a third deleted
    (documents spread over the whole index), then a refresh."""
    import urllib.request

    k = max(3, n // 100) // 3
    step = max(1, n // (2 * k))
    with open(ref, "rb") as f:
        picked = [json.loads(line) for i, line in enumerate(f) if i % step == 0][:2 * k]
    body = []
    for d in picked[:k]:   # updated
        body += [json.dumps({"index": {"_id": d["_id"]}}), json.dumps({**d["_source"], "revision": 2})]
    for d in picked[k:2 * k]:   # deleted
        body.append(json.dumps({"delete": {"_id": d["_id"]}}))
    for i, d in enumerate(picked[:k]):   # added
        body += [json.dumps({"index": {"_id": f"incr-new-{i}"}}), json.dumps(d["_source"])]
    t = time.perf_counter()
    req = urllib.request.Request(f"{url}/{INDEX}/_bulk?refresh=true", data=("\n".join(body) + "\n").encode(),
                                 method="POST", headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(req, timeout=600) as r:
        errors = json.loads(r.read())["errors"]
    return {"updated": k, "deleted": k, "added": k, "errors": errors, "secs": round(time.perf_counter() - t, 2)}


def seed_many(url: str, ref: str, n_indices: int, docs: int) -> None:
    """n_indices indices bench-many-NNNN (1 shard, 0 replicas) of the first `docs` reference
    documents each, sent over a few threads."""
    import urllib.request
    from concurrent.futures import ThreadPoolExecutor

    with open(ref, "rb") as f:
        lines = [json.loads(next(f)) for _ in range(docs)]
    body = b"".join(json.dumps({"index": {"_id": d["_id"]}}).encode() + b"\n" + json.dumps(d["_source"]).encode()
                    + b"\n" for d in lines)
    mapping = _get_json(f"{url}/{INDEX}/_mapping")[INDEX]["mappings"]

    def call(method: str, path: str, data: bytes, ctype: str = "application/json") -> None:
        req = urllib.request.Request(url + path, data=data, method=method, headers={"Content-Type": ctype})
        with urllib.request.urlopen(req, timeout=600) as r:
            r.read()

    def one(i: int) -> None:
        name = f"bench-many-{i:04d}"
        call("PUT", f"/{name}", json.dumps({"settings": {"number_of_shards": 1, "number_of_replicas": 0},
                                            "mappings": mapping}).encode())
        call("POST", f"/{name}/_bulk", body, "application/x-ndjson")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n_indices)))
    _get_json(f"{url}/bench-many-*/_refresh", "POST")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", nargs="?", default="bench", choices=["bench", "init", "dump", "restore"])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--url", default="")
    ap.add_argument("--repo", default="")
    ap.add_argument("--second", action="store_true")
    ap.add_argument("--incremental", action="store_true",
                    help="issue 18's scenario only: a backup, 1%% of the documents changed, an incremental backup")
    ap.add_argument("--include", default="", help="dump: this index pattern instead of the bench index")
    ap.add_argument("--parallel-indices", type=int, default=dump_default("parallel_indices"))
    ap.add_argument("--sweep", action="store_true",
                    help="also the raw writer at 1, 2, 4, 8 senders x 5, 10, 20 MB bulks (the knee)")
    ap.add_argument("--sweep-docs", type=int, default=50_000, help="documents per sweep run (0: all)")
    ap.add_argument("--many", type=int, default=0,
                    help="also N indices of --many-docs documents: our dump one index at a time vs several at once")
    ap.add_argument("--many-docs", type=int, default=1000)
    ap.add_argument("--profile", default="", help="directory: py-spy profiles of (3) and (6) (--incremental: of the "
                                                  "second backup), in extra untimed runs")
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--workers", type=int, default=load_default("workers"))
    ap.add_argument("--bulk-bytes", type=int, default=load_default("bulk_bytes"))
    ap.add_argument("--raw-senders", type=int, default=0, help="the raw writer's senders (default: ours, --workers)")
    ap.add_argument("--raw-bulk-mb", type=float, default=0, help="the raw writer's bulk MB (default: ours)")
    ap.add_argument("--target", default="osmem", help="osmem, opensearch-2, opensearch-3 or elasticsearch-8")
    ap.add_argument("--anchor", default=os.path.join(os.path.dirname(ROOT), "shared", "anchor-bench"))
    ap.add_argument("--anchor-home", default="/tmp/anchor-bench")
    ap.add_argument("--workdir", default="/tmp/elastic-bench")
    ap.add_argument("--backups-only", action="store_true",
                    help="only our first backup (3) and the second of the unchanged index (7) (target 17.3)")
    ap.add_argument("--many-only", action="store_true",
                    help="only the many-indices step (target 17.4); --n is the reference it copies from")
    ap.add_argument("--writes-only", action="store_true",
                    help="only our dump, then rounds of the raw writer (4) and our restore (6) (target 17.2)")
    ap.add_argument("--rounds", type=int, default=2,
                    help="--writes-only / --reads-only: rounds of raw, ours, ours, raw")
    ap.add_argument("--reads-only", action="store_true",
                    help="only the raw reads (1) and rounds of the best of them against our dump (3) (target 17.1)")
    ap.add_argument("--read-mode", default=dump_default("read_mode"), help="dump: auto, scroll or pit")
    ap.add_argument("--baseline", default="",
                    help="--writes-only: also our restore from this checkout's code; --reads-only: variants "
                         "named base:... dump with it (the code before a change, side by side)")
    ap.add_argument("--dump-variants", default="auto+ids",
                    help="--reads-only: our dumps to compare, e.g. auto+ids,scroll+ids,auto (+ids: as a product dump)")
    ap.add_argument("--also-v1", action="store_true",
                    help="--writes-only: also restore from a format v1 repository of the same dump")
    ap.add_argument("--also-refresh", default="",
                    help="--writes-only: also our restore with this refresh_interval during the load (an experiment)")
    ap.add_argument("--load-refresh", default="",
                    help="restore: the refresh_interval during the load (an experiment; -1 was the product's before)")
    ap.add_argument("--repo-version", type=int, default=0, help="init: the repository's format (0: the default)")
    ap.add_argument("--rss-only", action="store_true",
                    help="only our dump and one restore, for their peak RSS (target 17.5: run it with --n 2000000)")
    ap.add_argument("--skip-anchor-restore", action="store_true", help="skip step 5 (slow)")
    args = ap.parse_args()
    if args.cmd == "dump":
        print(json.dumps(child_dump(args)))
        return
    if args.cmd == "init":
        print(json.dumps(child_init(args)))
        return
    if args.cmd == "restore":
        print(json.dumps(child_restore(args)))
        return

    bench(args)


if __name__ == "__main__":
    main()
