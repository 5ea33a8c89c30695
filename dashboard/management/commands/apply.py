from __future__ import annotations

import sys
from typing import Any

import yaml
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from audit.log import Actor
from dashboard.resources import apply
from tenancy.manifests import ManifestError


class Command(BaseCommand):
    help = "Create or update resources from KubeStash-shaped YAML (all documents or none)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("-f", "--filename", action="append", required=True, help="YAML file, or - for standard input")
        parser.add_argument("--dry-run", action="store_true", help="Validate and report, change nothing")
        parser.add_argument(
            "--no-start", action="store_true",
            help="Only write the rows: no storage/repository initialization, instant backup or restore job",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        docs: list[Any] = []
        for name in options["filename"]:
            try:
                if name == "-":
                    text = sys.stdin.read()
                else:
                    with open(name, encoding="utf-8") as f:
                        text = f.read()
                docs.extend(d for d in yaml.safe_load_all(text) if d is not None)
            except OSError as e:
                raise CommandError(f"{name}: {e.strerror}") from None
            except yaml.YAMLError as e:
                raise CommandError(f"{name}: not valid YAML: {e}") from None
        try:
            results = apply(docs, dry_run=options["dry_run"], start=not options["no_start"], actor=Actor.command("apply"))
        except ManifestError as e:
            raise CommandError(str(e)) from None
        except ValidationError as e:
            raise CommandError("; ".join(e.messages)) from None
        suffix = " (dry run)" if options["dry_run"] else ""
        for line in results:
            self.stdout.write(line + suffix)
