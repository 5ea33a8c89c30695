"""`manage.py k8s_sync [--once | --loop]`: mirror the rows to Kubernetes custom resources."""
from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import Any

import yaml
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections

from storage.retry import delay as backoff_delay
from tenancy.models import Team

log = logging.getLogger("stashboard.k8s")


class Command(BaseCommand):
    help = "Mirror teams' resources to KubeStash-shaped custom resources (one team, one namespace)."

    def add_arguments(self, parser: Any) -> None:
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--once", action="store_true", help="One turn, then exit (the default)")
        mode.add_argument("--loop", action="store_true", help=f"Run until SIGTERM, a turn every K8S_SYNC_INTERVAL "
                          f"({settings.K8S_SYNC_INTERVAL}s), backing off while the API server is unreachable")
        parser.add_argument("--dry-run", action="store_true", help="Print what would change as a diff; write nothing")
        parser.add_argument("--accept-edits", action="store_true",
                            help="Apply a spec edited on a BackupConfiguration CR (e.g. paused) to the database")
        parser.add_argument("--team", action="append", help="Team slug; default: every team")
        parser.add_argument("--write-crds", metavar="DIR",
                            help="Write the CRDs for K8S_API_GROUP_SUFFIX into DIR (e.g. deploy/crds) and exit")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["write_crds"]:
            self.write_crds(Path(options["write_crds"]))
            return
        if not settings.K8S_SYNC_ENABLED:
            raise CommandError("the Kubernetes mirror is off: set K8S_SYNC_ENABLED=true")
        self.teams = options["team"]
        self.setup(dry_run=options["dry_run"], accept_edits=options["accept_edits"])
        if options["loop"]:
            signal.signal(signal.SIGTERM, self.on_sigterm)
            self.run_loop()
            return
        from dashboard.k8s.sync import APIUnavailable
        try:
            report = self.handle_one()
        except APIUnavailable as e:
            raise CommandError(f"{e}: check the kubeconfig / K8S_KUBECONFIG, or run with --loop to wait for it") from None
        for error in report.errors:
            self.stderr.write(error)
        self.stdout.write(("dry run: " if options["dry_run"] else "") + report.summary())
        if report.errors:
            raise CommandError(f"{len(report.errors)} objects could not be mirrored (see above)")

    def setup(self, *, dry_run: bool = False, accept_edits: bool = False) -> None:
        # Imported here, not at the top: `manage.py` lists this module without loading
        # the kubernetes client unless the mirror actually runs.
        from dashboard.k8s.client import api_client
        from dashboard.k8s.sync import Mirror

        self.stopping = threading.Event()
        self.mirror = Mirror(api_client(), dry_run=dry_run, accept_edits=accept_edits,
                             out=lambda line: self.stdout.write(line))

    def on_sigterm(self, *args: Any) -> None:
        log.info("SIGTERM: stopping after this turn")
        self.stopping.set()

    def handle_one(self) -> Any:
        teams = Team.objects.order_by("slug")
        if getattr(self, "teams", None):
            teams = teams.filter(slug__in=self.teams)
        report = self.mirror.sync(teams)
        log.info("k8s sync: %s", report.summary())
        return report

    def wait(self, seconds: float) -> None:
        self.stopping.wait(seconds)

    def run_loop(self) -> None:
        from dashboard.k8s.sync import APIUnavailable

        failures = 0
        while not self.stopping.is_set():
            close_old_connections()
            try:
                report = self.handle_one()
                failures = 0
                for error in report.errors:
                    log.error("k8s sync: %s", error)
                delay = float(settings.K8S_SYNC_INTERVAL)
            except APIUnavailable as e:
                failures += 1
                # Exponential, capped, with jitter so that restarted replicas do not knock in step
                # (the one retry helper's backoff; the loop itself never gives up).
                delay = backoff_delay(failures, base=1.0, cap=float(settings.K8S_SYNC_MAX_BACKOFF), jitter=0.2)
                log.warning("k8s sync: %s; attempt %d failed, trying again in %.1fs", e, failures, delay)
            finally:
                close_old_connections()
            self.wait(delay)

    def write_crds(self, directory: Path) -> None:
        from dashboard.k8s.crds import all_crds

        directory.mkdir(parents=True, exist_ok=True)
        for crd in all_crds():
            path = directory / f"{crd['spec']['group']}_{crd['spec']['names']['plural']}.yaml"
            path.write_text(crd_yaml(crd))
            self.stdout.write(f"wrote {path}")


def crd_yaml(crd: dict[str, Any]) -> str:
    header = "# Generated by `manage.py k8s_sync --write-crds deploy/crds`; edit dashboard/k8s/crds.py instead.\n"
    return header + yaml.safe_dump(crd, sort_keys=False, default_flow_style=False)
