from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from audit.log import Actor
from audit.retention import purge


class Command(BaseCommand):
    help = "Delete audit entries older than AUDIT_RETENTION_DAYS (the scheduler also does it once an hour)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--days", type=int, default=None,
                            help=f"keep this many days instead (default AUDIT_RETENTION_DAYS={settings.AUDIT_RETENTION_DAYS})")

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.AUDIT_RETENTION_DAYS if options["days"] is None else options["days"]
        if days <= 0:
            raise CommandError("retention is off (AUDIT_RETENTION_DAYS=0 keeps every entry): give --days N to purge anyway")
        n = purge(days=days, actor=Actor.command("audit_purge"))
        self.stdout.write(f"purged {n} audit entries older than {days} days")
