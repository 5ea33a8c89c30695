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


# -- child commands (run in their own process so peak RSS is theirs alone) ---------------
def _open_repo(path: str, create: bool) -> Any:
    from storage.backends import open_backend
    from storage.repo import Repository

    backend = open_backend("local", root=path)
    if create:
        return Repository.init(backend, PASSWORD, name="bench/elastic")
    return Repository.open(backend, PASSWORD, name="bench/elastic")


def child_dump(args: argparse.Namespace) -> dict[str, Any]:
    from backups.elastic.connection import ClusterConfig, connect
    from backups.elastic.dump import DumpParams, dump_cluster

    repo = _open_repo(args.repo, create=False)      # key derivation (KDF) not in "engine_secs"
    t = time.perf_counter()
    conn = connect(ClusterConfig(urls=[args.url]))
    params = DumpParams(include=[INDEX], batch_size=5000, max_slices=args.slices)
    prev = repo.latest() if args.second else None
    with repo.writer(meta={"configuration": "bench"}) as w:
        res = dump_cluster(conn, w, params, previous=prev)
        w.commit(meta={"cluster": res.cluster_meta["cluster"], "cluster_metadata": res.cluster_meta,
                       "status": "Succeeded" if res.ok else "Failed"})
    engine = "storage.repo on a local directory"
    dt = time.perf_counter() - t
    # the one statistics request every dump makes (the skip decision needs it): on
    # osmem-server it visits every document, on a real engine it reads shard counters
    from backups.elastic.fingerprint import index_states

    t = time.perf_counter()
    index_states(conn, [INDEX])
    stats = time.perf_counter() - t
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
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def _diff(a: Any, b: Any, path: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        return [p for k in sorted(set(a) | set(b)) for p in _diff(a.get(k), b.get(k), f"{path}.{k}" if path else k)]
    return [] if a == b else [f"{path}: {a!r} -> {b!r}"]


def child_init(args: argparse.Namespace) -> dict[str, Any]:
    _open_repo(args.repo, create=True)
    return {"ok": True}


def child_restore(args: argparse.Namespace) -> dict[str, Any]:
    from backups.elastic.connection import ClusterConfig, connect
    from restores.load import LoadParams, load_snapshot

    conn = connect(ClusterConfig(urls=[args.url]))
    repo = _open_repo(args.repo, create=False)
    t = time.perf_counter()
    m = repo.manifest("latest")
    res = load_snapshot(conn, m, open_stream=lambda n: repo.read_stream(m, n),
                        params=LoadParams(include=[INDEX], rename_pattern=f"^{INDEX}$",
                                          rename_replacement="bench-ours", workers=args.workers,
                                          bulk_bytes=args.bulk_bytes, metadata_kinds=()))
    dt = time.perf_counter() - t
    e = res.indices["bench-ours"]
    return {"ok": res.ok, "docs": e["docs"], "count": e.get("count"), "engine_secs": dt, "error": e["error"],
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", nargs="?", default="bench", choices=["bench", "init", "dump", "restore"])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--url", default="")
    ap.add_argument("--repo", default="")
    ap.add_argument("--second", action="store_true")
    ap.add_argument("--slices", type=int, default=4)
    ap.add_argument("--workers", type=int, default=2)
    # the raw writer sends 5000 documents (~3.4 MB) per bulk: compare at the same size
    ap.add_argument("--bulk-bytes", type=int, default=3_400_000)
    ap.add_argument("--target", default="osmem", help="osmem, opensearch-2, opensearch-3 or elasticsearch-8")
    ap.add_argument("--anchor", default=os.path.join(os.path.dirname(ROOT), "shared", "anchor-bench"))
    ap.add_argument("--anchor-home", default="/tmp/anchor-bench")
    ap.add_argument("--workdir", default="/tmp/elastic-bench")
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

    from tests.peers.clusters import start_cluster

    py = sys.executable
    ed = os.path.join(args.anchor_home, "node/node_modules/.bin/elasticdump")
    if not os.path.exists(ed) or not shutil.which("restic"):
        raise SystemExit(f"elasticdump or restic missing: run `bash {args.anchor}/setup.sh {args.anchor_home}`")
    shutil.rmtree(args.workdir, ignore_errors=True)
    os.makedirs(args.workdir)
    W = args.workdir
    res: dict[str, dict[str, Any]] = {}
    # bin/search-node runs the JVM with -XX:TieredStopAtLevel=1 (C1 only: fast start, lower
    # peak throughput); SEARCH_NODE_JAVA_OPTS is appended after it, so a benchmark node
    # gets the full JIT (C2) unless the caller sets the variable itself
    java_opts = os.environ.setdefault("SEARCH_NODE_JAVA_OPTS", "-XX:TieredStopAtLevel=4")
    with start_cluster(args.target) as server:
        url = server.url
        print(f"[{time.strftime('%T')}] target: {args.target} at {url}"
              + ("" if args.target in ("osmem", "external") else f" (SEARCH_NODE_JAVA_OPTS={java_opts})"), flush=True)
        env = {"ES_URL": url, "PYTHONPATH": args.anchor, "RESTIC_PASSWORD": "bench-anchor",
               "RESTIC_CACHE_DIR": f"{W}/restic-cache"}
        me = [py, os.path.abspath(__file__)]

        def log(step: str, r: dict[str, Any]) -> None:
            res[step] = r
            print(f"[{time.strftime('%T')}] {step}: " + json.dumps(r), flush=True)

        dt, out, _ = run([py, f"{args.anchor}/seed.py", "--n", str(args.n), "--url", url, "--index", INDEX], env)
        log("seed", {"secs": round(dt, 1), **json.loads(out.strip().splitlines()[-1])})
        # a real engine keeps merging the freshly written segments for a while and commits
        # after them (flush after a merge, flush of a shard idle for 5 minutes): each commit
        # is a new Lucene commit id, one of the change fingerprint's signals, and one that
        # lands between (3) and (7) makes (7) read everything again. An index last written
        # long ago (the case (7) stands for) has settled already: let this one settle too
        log("settle", settle(url))

        # reference NDJSON for the write steps (not timed). Read first: it is also the
        # warm-up of the server's read path (JIT compilation, page cache), which would
        # otherwise be paid by (1) alone and flatter (3) against it
        ref = f"{W}/ref.ndjson"
        run([py, f"{args.anchor}/rawread.py", "--index", INDEX, "--mode", "scroll", "--out", ref], env)

        # 1. raw scroll read limit
        dt, out, _ = run(timed_rss(f"{py} {args.anchor}/rawread.py --index {INDEX} --mode scroll --size 5000 "
                                   f"--out /dev/null", f"{W}/1.rss"), env, shell=True)
        log("1_raw_scroll_read", {"secs": dt, "docs": args.n, "peak_rss_mb": rss_of(f"{W}/1.rss")})

        # 2. anchor backup: elasticdump | restic backup --stdin
        run(["restic", "-r", f"{W}/restic", "init", "-q"], env)
        sb = '{"query":{"match_all":{}},"track_total_hits":true}'
        cmd = (timed_rss(f"{ed} --input={url}/{INDEX} --output=$ --type=data --searchBody='{sb}'", f"{W}/2a.rss")
               + " 2>/dev/null | " + timed_rss(f"restic -r {W}/restic backup --stdin --stdin-filename {INDEX}.json -q",
                                               f"{W}/2b.rss"))
        dt, _, _ = run(cmd, env, shell=True)
        log("2_elasticdump_restic_backup", {"secs": dt, "docs": args.n,
                                            "peak_rss_mb": [rss_of(f"{W}/2a.rss"), rss_of(f"{W}/2b.rss")]})

        # 3. our dump into a local repository (created untimed, like `restic init`)
        run(me + ["init", "--repo", f"{W}/repo"])
        dt, out, _ = run(me + ["dump", "--url", url, "--repo", f"{W}/repo", "--slices", str(args.slices)])
        r3 = json.loads(out)
        log("3_our_dump", {**r3, "secs": dt})

        # 5. anchor restore: restic dump | elasticdump
        if not args.skip_anchor_restore:
            run([py, "-c", f"import common; common.clone_index('{INDEX}', 'bench-restore')"], env)
            cmd = (timed_rss(f"restic -r {W}/restic dump latest {INDEX}.json", f"{W}/5a.rss") + " | "
                   + timed_rss(f"{ed} --input=$ --output={url}/bench-restore --type=data --limit 5000", f"{W}/5b.rss")
                   + " >/dev/null 2>&1")
            dt, _, _ = run(cmd, env, shell=True)
            _, out, _ = run([py, "-c", "import common; print(common.count('bench-restore'))"], env)
            _, ver, _ = run([py, f"{args.anchor}/verify.py", ref, "--index", "bench-restore"], env)
            log("5_restic_elasticdump_restore", {"secs": dt, "count": int(out), "verify": json.loads(ver),
                                                 "peak_rss_mb": [rss_of(f"{W}/5a.rss"), rss_of(f"{W}/5b.rss")]})
            run(["curl", "-s", "-XDELETE", f"{url}/bench-restore"])

        def raw_write(k: int) -> dict[str, Any]:
            dt, out, _ = run(timed_rss(f"{py} {args.anchor}/rawwrite.py {ref} --index bench-rawwrite --like {INDEX} "
                                       "--batch 5000 --senders 2", f"{W}/4.rss"), env, shell=True)
            r = json.loads(out.strip().splitlines()[-1])
            run(["curl", "-s", "-XDELETE", f"{url}/bench-rawwrite"])
            # rawwrite's own "secs" leaves out its process start and index creation: the
            # stricter limit, used as the engine time; "secs" is the wall time as elsewhere
            r = {**r, "engine_secs": r["secs"], "secs": dt, "peak_rss_mb": rss_of(f"{W}/4.rss")}
            log(f"4_raw_bulk_write run {k}", r)
            return r

        def our_restore(k: int) -> dict[str, Any]:
            dt, out, _ = run(me + ["restore", "--url", url, "--repo", f"{W}/repo", "--workers", str(args.workers),
                                   "--bulk-bytes", str(args.bulk_bytes)])
            _, ver, _ = run([py, f"{args.anchor}/verify.py", ref, "--index", "bench-ours"], env)
            run(["curl", "-s", "-XDELETE", f"{url}/bench-ours"])
            r = {**json.loads(out), "secs": dt, "verify": json.loads(ver)}
            log(f"6_our_restore run {k}", r)
            return r

        # 4. raw bulk write limit and 6. our restore, in the order 4 6 6 4: a server's
        # indexing speed drifts by ±10% over a run (osmem's measured; a real engine's merges
        # too), and an ABBA order weighs any drift on both alike (means of two runs each)
        runs = {"4_raw_bulk_write": [raw_write(1)], "6_our_restore": [our_restore(1)]}
        runs["6_our_restore"].append(our_restore(2))
        runs["4_raw_bulk_write"].append(raw_write(2))
        for step, rs in runs.items():
            res[step] = {**rs[-1], "secs": sum(r["secs"] for r in rs) / 2,
                         "engine_secs": sum(r["engine_secs"] for r in rs) / 2,
                         "peak_rss_mb": max(r["peak_rss_mb"] for r in rs), "runs_secs": [r["secs"] for r in rs]}

        # 7. our second backup of the unchanged index
        dt, out, _ = run(me + ["dump", "--url", url, "--repo", f"{W}/repo", "--second"])
        r7 = json.loads(out)
        log("7_our_second_backup", {**r7, "secs": dt})

    s: dict[str, float] = {k: float(v.get("secs") or 0) for k, v in res.items()}
    e: dict[str, float] = {k: float(v.get("engine_secs", v.get("secs")) or 0) for k, v in res.items()}
    n = args.n
    print("\n| step | wall s | docs/s | engine s (ours: after process start and key derivation) | peak RSS MB |")
    print("|---|---|---|---|---|")
    for k, v in sorted(res.items()):
        if k in ("seed", "settle") or " run " in k:
            continue
        print(f"| {k} | {v['secs']:.2f} | {n / v['secs']:,.0f} | {e[k]:.2f} | {v.get('peak_rss_mb')} |")
    print()
    for label, x in (("wall", s), ("engine", e)):
        print(f"[{label}] (3) vs (2): {x['2_elasticdump_restic_backup'] / x['3_our_dump']:.2f}x  (target >= 1.5x)")
        print(f"[{label}] (3) vs (1): {x['1_raw_scroll_read'] / x['3_our_dump']:.2f}x  (target >= 0.9x)")
        if "5_restic_elasticdump_restore" in x:
            print(f"[{label}] (6) vs (5): {x['5_restic_elasticdump_restore'] / x['6_our_restore']:.2f}x")
        print(f"[{label}] (6) vs (4): {x['4_raw_bulk_write'] / x['6_our_restore']:.2f}x  (target >= 1.0x)")
        print(f"[{label}] (7) / (3) time: {100 * x['7_our_second_backup'] / x['3_our_dump']:.1f}%  (target <= 5%)")
    st = float(res["7_our_second_backup"]["server_stats_secs"])
    print(f"(7) less the server's one statistics request ({st:.2f} s): "
          f"{100 * (e['7_our_second_backup'] - st) / e['3_our_dump']:.1f}% of (3) (engine)")
    print(f"our peak RSS: dump {res['3_our_dump']['peak_rss_mb']:.0f} MB, restore "
          f"{res['6_our_restore']['peak_rss_mb']:.0f} MB, second {res['7_our_second_backup']['peak_rss_mb']:.0f} MB "
          "(target <= 150 MB)")
    print(f"(3) repository engine: {res['3_our_dump']['engine']}; target: {args.target}")


if __name__ == "__main__":
    main()
