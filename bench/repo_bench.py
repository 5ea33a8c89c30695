"""Benchmark: our repository vs restic on the same generated NDJSON-like bytes.

    .venv/bin/python bench/repo_bench.py [--size-mib 1024] [--targets local,s3]

Writes the stream to a temporary file once (so the producer costs nothing during the
timed runs), then for each target (a local directory, SeaweedFS over S3) runs, each in
its own process reading standard input / writing standard output:
  ours:   a writer storing one stream, then a reader streaming it back
  restic: `restic backup --stdin`, then `restic dump`
and prints MB/s, peak RSS (of that process) and repository size. Not a test.
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
        Repository.init(backend, PASSWORD, "bench")
        return
    repo = Repository.open(backend, PASSWORD, "bench")
    if verb == "write":
        with repo.writer(meta={"status": "Succeeded"}) as w:
            w.add_stream("data.ndjson", sys.stdin.buffer)
            w.commit()
    elif verb == "read":
        out = sys.stdout.buffer
        for part in repo.read_stream("latest", "data.ndjson"):
            out.write(part)
        out.flush()


# -- measuring ---------------------------------------------------------------------------------

def run(cmd: list[str], *, stdin_path: Path | None = None, env: dict[str, str] | None = None,
        digest: bool = False) -> tuple[float, float, str]:
    """(seconds, peak RSS MiB of the process, sha256 of its stdout if digest)."""
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
    return seconds, usage.ru_maxrss / 1024, h.hexdigest()


def dir_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def s3_size(s3, bucket: str, prefix: str) -> int:  # type: ignore[no-untyped-def]
    total = 0
    for page in s3.client().get_paginator("list_objects_v2").paginate(Bucket=bucket,
                                                                       Prefix=prefix):
        total += sum(o["Size"] for o in page.get("Contents", []))
    return total


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_child":
        child(sys.argv[2:])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--size-mib", type=int, default=1024)
    ap.add_argument("--targets", default="local,s3")
    args = ap.parse_args()
    size = args.size_mib << 20
    restic = shutil.which("restic")
    if not restic:
        raise SystemExit("restic not found: apt-get install restic")
    work = Path(tempfile.mkdtemp(prefix="repo-bench-"))
    try:
        src = work / "input.ndjson"
        h = hashlib.sha256()
        with open(src, "wb") as f:
            for part in ndjson_stream(size):
                h.update(part)
                f.write(part)
        source_sha = h.hexdigest()
        pwfile = work / "pw"
        pwfile.write_text(PASSWORD)
        rows = []
        targets = args.targets.split(",")
        s3ctx = None
        if "s3" in targets:
            from tests.peers.seaweedfs import start_seaweedfs

            s3ctx = start_seaweedfs(work)
            s3 = s3ctx.__enter__()
            s3.make_bucket("bench")
        try:
            for target in targets:
                env = {"RESTIC_PASSWORD_FILE": str(pwfile), "RESTIC_CACHE_DIR": str(work / "rc")}
                if target == "local":
                    ours_url = f"file://{work}/ours"
                    restic_repo = str(work / "restic")
                    sizes = (lambda: dir_size(work / "ours"), lambda: dir_size(work / "restic"))
                else:
                    env.update(AWS_ACCESS_KEY_ID=s3.access_key, AWS_SECRET_ACCESS_KEY=s3.secret_key)
                    ours_url = f"s3://bench/ours?endpoint={s3.endpoint}&path_style=true"
                    restic_repo = f"s3:{s3.endpoint}/bench/restic"
                    sizes = (lambda: s3_size(s3, "bench", "ours/"),
                             lambda: s3_size(s3, "bench", "restic/"))
                me = [sys.executable, __file__, "_child"]
                os.environ.update(env)
                run([*me, "init", ours_url])
                w = run([*me, "write", ours_url], stdin_path=src)
                r = run([*me, "read", ours_url], digest=True)
                assert r[2] == source_sha, "our read-back differs from the input"
                rows.append((target, "ours", w, r, sizes[0]()))
                run([restic, "-r", restic_repo, "init"], env=env)
                w = run([restic, "-r", restic_repo, "backup", "--stdin", "--stdin-filename",
                         "data.ndjson", "--host", "bench"], stdin_path=src, env=env)
                r = run([restic, "-r", restic_repo, "dump", "latest", "data.ndjson"], env=env,
                        digest=True)
                assert r[2] == source_sha, "restic's read-back differs from the input"
                rows.append((target, "restic", w, r, sizes[1]()))
        finally:
            if s3ctx is not None:
                s3ctx.__exit__(None, None, None)
        mb = size / 1e6
        print(f"\n{args.size_mib} MiB NDJSON-like stream, {os.cpu_count()} CPUs")
        print(f"{'target':<7}{'tool':<8}{'write MB/s':>11}{'read MB/s':>11}{'write RSS':>11}"
              f"{'read RSS':>10}{'repo MiB':>10}")
        for target, tool, w, r, repo_bytes in rows:
            print(f"{target:<7}{tool:<8}{mb / w[0]:>11.1f}{mb / r[0]:>11.1f}{w[1]:>10.0f}M"
                  f"{r[1]:>9.0f}M{repo_bytes / 2**20:>10.1f}")
        for target in targets:
            o = next(x for x in rows if x[0] == target and x[1] == "ours")
            t = next(x for x in rows if x[0] == target and x[1] == "restic")
            print(f"{target}: ours/restic write speed {t[2][0] / o[2][0]:.2f}x, read speed "
                  f"{t[3][0] / o[3][0]:.2f}x, repo size {o[4] / t[4]:.2f}x, peak RSS write "
                  f"{o[2][1] / t[2][1]:.2f}x read {o[3][1] / t[3][1]:.2f}x")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
