from __future__ import annotations

from typing import Any

import yaml
from django.core.management.base import BaseCommand, CommandError

from dashboard.resources import ORDER, export
from tenancy.models import Team


class Command(BaseCommand):
    help = "Write resources out as KubeStash-shaped YAML (secret values only with --include-secret-values)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--team", action="append", help="Team slug (namespace); default: every team")
        parser.add_argument("--kind", action="append", choices=ORDER, help="Only these kinds")
        parser.add_argument("-o", "--output", help="File to write (default: standard output)")
        parser.add_argument(
            "--include-secret-values", action="store_true",
            help="Write secret values (base64, as Kubernetes does) for a migration; keep the file safe",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        teams = Team.objects.order_by("slug")
        if options["team"]:
            teams = teams.filter(slug__in=options["team"])
            missing = set(options["team"]) - set(teams.values_list("slug", flat=True))
            if missing:
                raise CommandError(f"no team named {', '.join(sorted(missing))}: see the team slugs in the admin")
        docs = export(teams, include_secret_values=options["include_secret_values"], kinds=options["kind"])
        text = yaml.safe_dump_all(docs, sort_keys=False, allow_unicode=True, default_flow_style=False)
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as f:
                f.write(text)
        else:
            self.stdout.write(text, ending="")
