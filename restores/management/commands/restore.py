from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from audit.log import Actor
from backups.management.commands.backup_now import split_ref, wait_for
from backups.models import Cluster
from restores import flows, rules
from restores.models import RestoreSession
from storage.models import Repository


class Command(BaseCommand):
    help = "Restore a snapshot of a repository into a cluster (--wait to follow it to the end)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--repository", required=True, help="TEAM/REPO")
        parser.add_argument("--snapshot", default="latest", help="snapshot id (or a unique prefix), or latest")
        parser.add_argument("--target", required=True, help="TEAM/CLUSTER")
        parser.add_argument("--indices", nargs="*", default=[], metavar="PATTERN")
        parser.add_argument("--exclude", nargs="*", default=[], metavar="PATTERN")
        parser.add_argument("--rename", nargs=2, metavar=("REGEX", "REPLACEMENT"))
        parser.add_argument("--conflict", choices=rules.CONFLICT_POLICIES, default="fail")
        parser.add_argument("--on-index-failure", choices=rules.ON_INDEX_FAILURE, default="keep",
                            help="an index created by the restore that fails partway: keep it or delete it")
        parser.add_argument("--parallelism", type=int)
        parser.add_argument("--name", help="name of the RestoreSession (default: restore-<time>)")
        parser.add_argument("--wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=0)

    def handle(self, *args: Any, **options: Any) -> None:
        team, repo_name = split_ref(options["repository"], "repository")
        target_team, cluster_name = split_ref(options["target"], "target cluster")
        if target_team != team:
            raise CommandError("the repository and the target cluster must belong to the same team")
        repo = Repository.objects.filter(team__slug=team, name=repo_name).select_related("team").first()
        if repo is None:
            raise CommandError(f"no repository '{repo_name}' in team '{team}'")
        target = Cluster.objects.filter(team=repo.team, name=cluster_name).first()
        if target is None:
            raise CommandError(f"no cluster '{cluster_name}' in team '{team}'")
        params: dict[str, Any] = {"conflict": options["conflict"], "on_index_failure": options["on_index_failure"]}
        if options["indices"]:
            params["indices"] = ",".join(options["indices"])
        if options["exclude"]:
            params["exclude"] = ",".join(options["exclude"])
        if options["rename"]:
            params["rename_pattern"], params["rename_replacement"] = options["rename"]
        if options["parallelism"]:
            params["parallelism"] = options["parallelism"]
        restore = RestoreSession(
            team=repo.team, repository=repo, target=target, snapshot=options["snapshot"], task_params=params,
            name=options["name"] or f"restore-{timezone.now():%Y%m%d%H%M%S}", created_by="manage.py restore",
        )
        try:
            restore.full_clean()
        except ValidationError as e:
            raise CommandError("; ".join(f"{k}: {' '.join(v)}" for k, v in e.message_dict.items())) from None
        restore.save()
        flows.start_restore(restore, actor=Actor.command("restore"))
        self.stdout.write(f"{restore.name}: Pending")
        if options["wait"]:
            phase = wait_for(self, RestoreSession, restore.pk, options["timeout"])
            restore.refresh_from_db()
            for name, entry in (restore.components.get("load") or {}).items():
                self.stdout.write(f"  {name}: {entry.get('docs', 0)} docs, {entry.get('failed', 0)} failed"
                                  + (f" — {entry['error']}" if entry.get("error") else ""))
            if phase != "Succeeded":
                raise CommandError(f"{restore.name}: {phase} — {restore.error}")
