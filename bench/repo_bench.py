"""Benchmark: our repository vs restic on the same generated NDJSON-like bytes.

    .venv/bin/python bench/repo_bench.py [--size-mib 1024] [--targets local,s3] [--format 2]
    .venv/bin/python bench/repo_bench.py --open-chunks 10000000 [--targets s3]

Writes the stream to a temporary file once (so the producer costs nothing during the
timed runs), then for each target (a local directory, SeaweedFS over S3) runs, each in
its own process reading standard input / writing standard output:
  ours:   a writer storing one stream, then a reader streaming it back
  restic: `restic backup --stdin`, then `restic dump`
and prints MB/s, peak RSS (of that process), repository size, the PUT requests our
writer made (counted in the writer process) and the objects each repository holds.

--open-chunks N writes a synthetic v2 index of N chunks (no data: index files as a prune
writes them, 64 chunks per pack, MAX_ENTRIES per file) and times a fresh process opening
the repository and loading that index, cold (empty index cache) then warm (cached), against
the same process opening an empty repository (interpreter, SDK and key derivation alone),
with 1,000 lookups of stored and 1,000 of absent chunk ids. Not a test.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.storage.streams import ndjson_stream  # noqa: E402 - the same bytes the tests use

PASSWORD = "bench-password"


# -- the child processes for our side (lean: no Django) --------------------------------------

def child(argv: list[str]) -> None:
    from storage.backends import backend_from_url
    from storage.repo import Repository

    verb, url = argv[0], argv[1]
    backend = backend_from_url(url)
    if verb == "init":
        Repository.init(backend, PASSWORD, "bench", version=int(argv[2]))
        return
    if verb == "open":
        open_child(backend, Path(argv[2]))
        return
    if verb == "fetch":
        fetch_child(backend, int(argv[2]))
        return
    counted = _count_puts(backend)
    repo = Repository.open(backend, PASSWORD, "bench")
    if verb == "write":
        with repo.writer(meta={"status": "Succeeded"}) as w:
            info = w.add_stream("data.ndjson", sys.stdin.buffer)
            w.commit()
        print(f"PUTS {counted[0]} STORED {info.stored_bytes_new}", file=sys.stderr)
    elif verb == "read":
        out = sys.stdout.buffer
        for part in repo.read_stream("latest", "data.ndjson"):
            out.write(part)
        out.flush()


def _count_puts(backend):  # type: ignore[no-untyped-def]
    """Count the backend's put() calls (each is one PUT request below the multipart size)."""
    counted = [0]
    put = backend.put

    def counting_put(key, data, **kw):  # type: ignore[no-untyped-def]
        counted[0] += 1
        return put(key, data, **kw)

    backend.put = counting_put
    return counted


def open_child(backend, sample: Path) -> None:  # type: ignore[no-untyped-def]
    from storage.repo import Repository

    def rss_now() -> str:
        # The process's own figures: ru_maxrss of a child starts at its parent's size.
        status = Path("/proc/self/status").read_text()
        return "/".join(f"{int(status.split(f'{k}:')[1].split()[0]) / 1024:.1f}" for k in ("VmRSS", "VmHWM"))

    t0 = time.perf_counter()
    repo = Repository.open(backend, PASSWORD, "bench")
    t1 = time.perf_counter()
    rss_open = rss_now()
    repo.load_index()
    t2 = time.perf_counter()
    rss_index = rss_now()
    ids = sample.read_text().split() if sample.exists() else []
    found = sum(1 for cid in ids if repo.index.lookup(cid) is not None)
    absent = sum(1 for _ in range(1000) if repo.index.lookup(os.urandom(32).hex()) is not None)
    t3 = time.perf_counter()
    assert found == len(ids) and absent == 0, (found, absent)
    print(f"open {t1 - t0:.2f} s + index {t2 - t1:.2f} s, {len(repo.index):,} entries in "
          f"{len(repo.index.tables)} files, {(t3 - t2) / max(1, len(ids) + 1000) * 1e6:.0f} us/lookup; "
          f"RSS/peak MiB: opened {rss_open}, index loaded {rss_index}, after lookups {rss_now()}",
          file=sys.stderr)


def fetch_child(backend, workers: int) -> None:  # type: ignore[no-untyped-def]
    """The limit of a cold open: GET every index object with `workers` threads, nothing else."""
    from concurrent.futures import ThreadPoolExecutor

    from storage.repo.format import INDEX_PREFIX

    t0 = time.perf_counter()
    keys = list(backend.list(INDEX_PREFIX))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        total = sum(len(b) for b in pool.map(backend.get, keys))
    seconds = time.perf_counter() - t0
    print(f"raw GET of {len(keys)} index objects, {total / 2**20:.0f} MiB, {workers} threads: "
          f"{seconds:.2f} s ({total / 2**20 / seconds:.0f} MiB/s)", file=sys.stderr)


def synthetic_index(url: str, chunks: int, sample: Path) -> int:
    """Index files for `chunks` synthetic chunks (64 per pack), as prune writes them."""
    from concurrent.futures import ThreadPoolExecutor

    from storage.backends import backend_from_url
    from storage.repo import Repository
    from storage.repo.format import index_key
    from storage.repo.index import MAX_ENTRIES, encode_index
    from storage.repo.packs import Blob

    backend = backend_from_url(url)
    repo = Repository.open(backend, PASSWORD, "bench")
    per_pack, picked = 64, list[str]()

    def one(start: int) -> int:
        n = min(MAX_ENTRIES, chunks - start)
        packs = {}
        for p in range(0, n, per_pack):
            packs[os.urandom(32).hex()] = [Blob(os.urandom(32).hex(), 300_000 * i, 300_000, 1 << 20)
                                           for i in range(min(per_pack, n - p))]
        picked.extend(b.chunk_id for b in next(iter(packs.values()))[:7])
        index_id, sealed, _ = encode_index(repo.cipher, packs)
        backend.put(index_key(index_id), sealed)
        return n

    with ThreadPoolExecutor(max_workers=2) as pool:
        total = sum(pool.map(one, range(0, chunks, MAX_ENTRIES)))
    sample.write_text("\n".join(picked[:1000]))
    return total


def bench_open(work: Path, s3, chunks: int, profile: str = "") -> None:  # type: ignore[no-untyped-def]
    os.environ.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key,
                      STASHBOARD_REPO_CACHE=str(work / "index-cache"))
    me = [sys.executable, __file__, "_child"]
    rows = []
    for name, n in (("empty", 0), ("synthetic", chunks)):
        url = f"s3://bench/open-{name}?endpoint={s3.endpoint}&path_style=true"
        run([*me, "init", url, "2"])
        sample = work / f"sample-{name}"
        if n:
            t0 = time.perf_counter()
            synthetic_index(url, n, sample)
            print(f"wrote a synthetic index of {n:,} chunks in {time.perf_counter() - t0:.0f} s")
        for cache in ("cold", "warm"):
            if cache == "cold":
                shutil.rmtree(work / "index-cache", ignore_errors=True)
            cmd = [*me, "open", url, str(sample)]
            if profile and n:  # py-spy raw (collapsed stacks), idle threads included: S3 waits show
                cmd = [str(Path(sys.executable).with_name("py-spy")), "record", "--idle", "-r", "200",
                       "-f", "raw", "-o", f"{profile}/open-{cache}.txt", "--", *cmd]
            seconds, rss, _, err = run(cmd)
            rows.append((name, cache, seconds, rss, err.strip().splitlines()[-1]))
        if n:
            for workers in (2, 8):
                seconds, rss, _, err = run([*me, "fetch", url, str(workers)])
                rows.append((name, "limit", seconds, rss, err.strip().splitlines()[-1]))
    print(f"\nopening a repository, {os.cpu_count()} CPUs (process: wall time of the whole child "
          f"with interpreter start; the rest as the child measured itself)")
    for name, cache, seconds, _, line in rows:
        print(f"{name:<10}{cache:<6} process {seconds:>6.2f} s   {line}")


# -- measuring ---------------------------------------------------------------------------------

def run(cmd: list[str], *, stdin_path: Path | None = None, env: dict[str, str] | None = None,
        digest: bool = False) -> tuple[float, float, str, str]:
    """(seconds, peak RSS MiB of the process, sha256 of its stdout if digest, its stderr)."""
    stdin = open(stdin_path, "rb") if stdin_path else subprocess.DEVNULL  # noqa: SIM115
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdin=stdin, stdout=subprocess.PIPE if digest else
                            subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, **(env or {})})
    h = hashlib.sha256()
    if digest:
        assert proc.stdout is not None
        while True:
            part = proc.stdout.read(1 << 20)
            if not part:
                break
            h.update(part)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if stdin_path:
        stdin.close()  # type: ignore[union-attr]
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd[:4])} failed ({proc.returncode}): {err[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, h.hexdigest(), err


def dir_size(path: Path) -> tuple[int, int]:
    files = [f for f in path.rglob("*") if f.is_file()]
    return sum(f.stat().st_size for f in files), len(files)


def s3_size(s3, bucket: str, prefix: str) -> tuple[int, int]:  # type: ignore[no-untyped-def]
    total = count = 0
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                       Prefix=prefix):
        total += sum(o["Size"] for o in page.get("Contents", []))
        count += len(page.get("Contents", []))
    return total, count


def make_input(work: Path, size: int) -> tuple[Path, str]:
    src = work / "input.ndjson"
    h = hashlib.sha256()
    with open(src, "wb") as f:
        for part in ndjson_stream(size):
            h.update(part)
            f.write(part)
    return src, h.hexdigest()


def bench_target(work: Path, target: str, s3, formats: list[int], src: Path,  # type: ignore[no-untyped-def]
                 source_sha: str, restic: str, profile: str = "") -> list[tuple]:
    pwfile = work / "pw"
    pwfile.write_text(PASSWORD)
    env = {"RESTIC_PASSWORD_FILE": str(pwfile), "RESTIC_CACHE_DIR": str(work / "rc"),
           "STASHBOARD_REPO_CACHE": str(work / "index-cache")}
    if target == "s3":
        env.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
    os.environ.update(env)
    me = [sys.executable, __file__, "_child"]
    rows: list[tuple] = []
    for version in formats:
        if target == "local":
            url, size = f"file://{work}/ours{version}", (lambda v=version: dir_size(work / f"ours{v}"))
            profiled = f"file://{work}/profiled{version}"
        else:
            url = f"s3://bench/ours{version}?endpoint={s3.endpoint}&path_style=true"
            size = lambda v=version: s3_size(s3, "bench", f"ours{v}/")  # noqa: E731
            profiled = f"s3://bench/profiled{version}?endpoint={s3.endpoint}&path_style=true"
        run([*me, "init", url, str(version)])
        w = run([*me, "write", url], stdin_path=src)
        if profile:  # a second write of the same stream would dedup: a fresh repository
            run([*me, "init", profiled, str(version)])
            run([str(Path(sys.executable).with_name("py-spy")), "record", "--idle", "-r", "200", "-f",
                 "raw", "-o", f"{profile}/write-{target}-v{version}.txt", "--", *me, "write",
                 profiled], stdin_path=src)
        r = run([*me, "read", url], digest=True)
        assert r[2] == source_sha, "our read-back differs from the input"
        puts = int(w[3].split("PUTS ")[1].split()[0])
        rows.append((target, f"ours-v{version}", w, r, size(), puts))
    restic_repo = str(work / "restic") if target == "local" else f"s3:{s3.endpoint}/bench/restic"
    run([restic, "-r", restic_repo, "init"], env=env)
    w = run([restic, "-r", restic_repo, "backup", "--stdin", "--stdin-filename",
             "data.ndjson", "--host", "bench"], stdin_path=src, env=env)
    r = run([restic, "-r", restic_repo, "dump", "latest", "data.ndjson"], env=env, digest=True)
    assert r[2] == source_sha, "restic's read-back differs from the input"
    sized = dir_size(work / "restic") if target == "local" else s3_size(s3, "bench", "restic/")
    rows.append((target, "restic", w, r, sized, None))
    return rows


def report(rows: list[tuple], size: int) -> None:
    mb = size / 1e6
    print(f"\n{size >> 20} MiB NDJSON-like stream, {os.cpu_count()} CPUs")
    print(f"{'target':<7}{'tool':<9}{'write MB/s':>11}{'read MB/s':>11}{'write RSS':>11}"
          f"{'read RSS':>10}{'repo MiB':>10}{'objects':>9}{'PUTs':>7}{'MiB/PUT':>9}")
    for target, tool, w, r, (repo_bytes, objects), puts in rows:
        per_put = f"{repo_bytes / 2**20 / puts:>9.1f}" if puts else f"{'':>9}"
        print(f"{target:<7}{tool:<9}{mb / w[0]:>11.1f}{mb / r[0]:>11.1f}{w[1]:>10.0f}M"
              f"{r[1]:>9.0f}M{repo_bytes / 2**20:>10.1f}{objects:>9}{puts or '':>7}{per_put}")
    for target in dict.fromkeys(x[0] for x in rows):
        t = next(x for x in rows if x[0] == target and x[1] == "restic")
        for o in (x for x in rows if x[0] == target and x[1] != "restic"):
            print(f"{target} {o[1]}: ours/restic write speed {t[2][0] / o[2][0]:.2f}x, read speed "
                  f"{t[3][0] / o[3][0]:.2f}x, repo size {o[4][0] / t[4][0]:.2f}x, peak RSS write "
                  f"{o[2][1] / t[2][1]:.2f}x read {o[3][1] / t[3][1]:.2f}x")


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--targets", default="local,s3")
    ap.add_argument("--formats", default="2", help="our repository format versions, e.g. 1,2")
    ap.add_argument("--open-chunks", type=int, default=0,
                    help="only time opening a repository with a synthetic index of N chunks (S3)")
    ap.add_argument("--profile", default="", metavar="DIR",
                    help="py-spy profiles into DIR: of the opens (--open-chunks), else of a "
                         "second write of ours (not timed) per target and format")
    args = ap.parse_args()
    size = args.size_mib << 20
    restic = shutil.which("restic")
    if not restic:
        raise SystemExit("restic not found: apt-get install restic")
    work = Path(tempfile.mkdtemp(prefix="repo-bench-"))
    targets = args.targets.split(",")
    s3ctx = s3 = None
    try:
        if "s3" in targets or args.open_chunks:
            from tests.peers.seaweedfs import start_seaweedfs

            s3ctx = start_seaweedfs(work)
            s3 = s3ctx.__enter__()
            s3.make_bucket("bench")
        if args.open_chunks:
            bench_open(work, s3, args.open_chunks, args.profile)
            return
        src, source_sha = make_input(work, size)
        formats = [int(v) for v in args.formats.split(",")]
        rows = []
        for target in targets:
            rows += bench_target(work, target, s3, formats, src, source_sha, restic, args.profile)
        report(rows, size)
    finally:
        if s3ctx is not None:
            s3ctx.__exit__(None, None, None)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
