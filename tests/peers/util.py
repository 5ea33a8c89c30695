"""Helpers shared by the test peers: free ports, waiting for a port, process lifetime."""
from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

_claimed: set[int] = set()
_claim_lock = threading.Lock()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port(*, with_grpc: bool = False) -> int:
    """A port nobody listens on; with_grpc also requires port+10000 (SeaweedFS's gRPC offset)."""
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    with _claim_lock:
        for _ in range(2000):
            # A random pick rather than port 0: port 0 hands out ephemeral ports that
            # clients' outgoing connections may grab before the server binds them.
            port = rng.randint(20000, 30000) if with_grpc else rng.randint(20000, 55000)
            wanted = [port, port + 10000] if with_grpc else [port]
            if any(p in _claimed for p in wanted):
                continue
            if all(_bindable(p) for p in wanted):
                _claimed.update(wanted)
                return port
    raise RuntimeError("no free port found")


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 30.0,
                  proc: subprocess.Popen[bytes] | None = None, log: Path | None = None) -> None:
    """Wait until something accepts connections on host:port, or raise with the log tail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening on "
                               f"{host}:{port}\n{log_tail(log)}")
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:.0f}s\n{log_tail(log)}")


def log_tail(log: Path | None, lines: int = 40) -> str:
    if log is None or not log.exists():
        return ""
    text = log.read_text(errors="replace").splitlines()
    return "--- server log (tail) ---\n" + "\n".join(text[-lines:])


def venv_bin(name: str) -> str:
    """An executable next to the running interpreter (the venv's bin), else on PATH."""
    candidate = Path(sys.executable).parent / name
    if candidate.exists():
        return str(candidate)
    import shutil

    found = shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found next to {sys.executable} nor on PATH")
    return found


@contextlib.contextmanager
def running(cmd: Sequence[str], *, log: Path, cwd: Path | None = None,
            env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[bytes]]:
    """Start cmd in its own process group, logging to `log`; kill the whole group on exit."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(list(cmd), stdout=out, stderr=subprocess.STDOUT, cwd=cwd,
                                env={**os.environ, **(env or {})}, start_new_session=True)
    try:
        yield proc
    finally:
        stop_group(proc)


@contextlib.contextmanager
def listening(cmd: Sequence[str], port: int, *, log: Path, cwd: Path | None = None,
              env: dict[str, str] | None = None, timeout: float = 30.0) -> Iterator[subprocess.Popen[bytes]]:
    """`running(cmd)`, handed over once it accepts connections on 127.0.0.1:port."""
    with running(cmd, log=log, cwd=cwd, env=env) as proc:
        wait_for_port(port, timeout=timeout, proc=proc, log=log)
        yield proc


def stop_group(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout)
