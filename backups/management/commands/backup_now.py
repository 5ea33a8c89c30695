from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.template.defaultfilters import filesizeformat

from audit.log import Actor
from backups import flows
from backups.models import BackupConfiguration, BackupSession, Trigger


def split_ref(ref: str, what: str) -> tuple[str, str]:
    team, sep, name = ref.partition("/")
    if not sep or not team or not name:
        raise CommandError(f"'{ref}': write the {what} as TEAM/NAME, e.g. team-a/nightly")
    return team, name


class Command(BaseCommand):
    help = "Start a backup of a configuration's session now (--wait to follow it to the end)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("configuration", help="TEAM/CONFIG")
        parser.add_argument("--session", help="session name (default: every session of the configuration)")
        parser.add_argument("--wait", action="store_true", help="print progress; exit 0 only if it Succeeded")
        parser.add_argument("--timeout", type=float, default=0, help="give up waiting after this many seconds")

    def handle(self, *args: Any, **options: Any) -> None:
        team, name = split_ref(options["configuration"], "configuration")
        config = BackupConfiguration.objects.filter(team__slug=team, name=name).first()
        if config is None:
            raise CommandError(f"no backup configuration '{name}' in team '{team}'")
        sessions = config.sessions.all()
        if options["session"]:
            sessions = sessions.filter(name=options["session"])
            if not sessions:
                raise CommandError(f"configuration {team}/{name} has no session '{options['session']}': "
                                   f"use one of {', '.join(config.sessions.values_list('name', flat=True))}")
        actor = Actor.command("backup_now")
        started = [flows.trigger_backup(s, Trigger.MANUAL, user="manage.py backup_now", actor=actor) for s in sessions]
        for s in started:
            self.stdout.write(f"{s.name}: {s.phase}" + (f" ({s.error})" if s.error else ""))
        if not options["wait"]:
            return
        ok = all(wait_for(self, BackupSession, s.pk, options["timeout"]) == "Succeeded" for s in started)
        if not ok:
            raise CommandError("; ".join(f"{s.name}: {s.phase} {s.error}" for s in BackupSession.objects.filter(pk__in=[x.pk for x in started])))


def wait_for(cmd: BaseCommand, model: Any, pk: int, timeout: float = 0) -> str:
    deadline = time.monotonic() + timeout if timeout else None
    last = ""
    while True:
        obj = model.objects.get(pk=pk)
        if obj.is_completed():
            cmd.stdout.write(f"{obj.name}: {obj.phase}" + (f" — {obj.error}" if obj.error else ""))
            return obj.phase
        progress = getattr(obj, "progress", None)
        if progress is None:  # a BackupSession: show its snapshots' progress
            progress = {}
            for snap in obj.snapshots.all():
                for k in ("docs", "bytes", "rate", "eta", "index"):
                    if k in snap.progress:
                        progress[k] = snap.progress[k]
        line = f"{obj.name}: {obj.phase}"
        if progress:
            line += f" {progress.get('docs', 0)} docs, {filesizeformat(progress.get('bytes', 0))}, {progress.get('rate', 0)} docs/s"
            if progress.get("index"):
                line += f", index {progress['index']}"
            if progress.get("eta") is not None:
                line += f", ETA {progress['eta']}s"
        if line != last:
            cmd.stdout.write(line)
            last = line
        if deadline and time.monotonic() > deadline:
            raise CommandError(f"{obj.name} still {obj.phase} after {timeout:.0f}s")
        time.sleep(1)
