"""Disaster recovery: restore a snapshot into a cluster with nothing but the
repository's location and password — no database, no dashboard, no Redis.

    manage.py dr_restore --url s3://bucket/prefix/repo?endpoint=… --password-file pw \\
        --target https://es.example:9200 [--snapshot latest] [--indices 'logs-*'] \\
        [--rename '^(.*)$' 'restored-\\1'] [--conflict fail|skip|overwrite|merge]

Cluster credentials come from ES_USERNAME / ES_PASSWORD or ES_API_KEY, the CA from
ES_CA_BUNDLE (a PEM file); storage credentials from each SDK's standard variables."""
from __future__ import annotations

import os
from argparse import ArgumentParser
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from restores import rules


class Command(BaseCommand):
    help = "Restore a snapshot from a repository into a cluster without the database (disaster recovery)."
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django declares it so
    requires_migrations_checks = False

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", required=True, help="repository location (as for manage.py repo)")
        parser.add_argument("--password-file", required=True, help="file whose first line is the repository password")
        parser.add_argument("--target", required=True, nargs="+", help="cluster URL(s)")
        parser.add_argument("--snapshot", default="latest", help="snapshot id (or a unique prefix), or latest")
        parser.add_argument("--indices", nargs="*", default=["*"], metavar="PATTERN")
        parser.add_argument("--exclude", nargs="*", default=[], metavar="PATTERN")
        parser.add_argument("--rename", nargs=2, metavar=("REGEX", "REPLACEMENT"))
        parser.add_argument("--conflict", choices=rules.CONFLICT_POLICIES, default="fail")
        parser.add_argument("--on-index-failure", choices=rules.ON_INDEX_FAILURE, default="keep",
                            help="an index created by the restore that fails partway: keep it or delete it")
        parser.add_argument("--parallelism", type=int, default=2)
        parser.add_argument("--no-metadata", action="store_true", help="data only: no templates, pipelines or policies")
        parser.add_argument("--insecure", action="store_true", help="do not verify the cluster's TLS certificate")

    def handle(self, *args: Any, **o: Any) -> None:
        from backups.elastic.connection import ClusterConfig, ClusterError, connect
        from backups.elastic.metadata import CLUSTER_KINDS
        from restores.load import LoadParams, load_snapshot
        from storage.backends import BackendError, backend_from_url
        from storage.repo import Repository, RepositoryError

        try:
            password = Path(o["password_file"]).read_text().splitlines()[0]
        except (OSError, IndexError):
            raise CommandError(f"cannot read a password from {o['password_file']}") from None
        try:
            repo = Repository.open(backend_from_url(o["url"]), password, o["url"].split("?", 1)[0])
            if o["snapshot"] == "latest":
                manifest = repo.latest(where=lambda m: m.status == "Succeeded")
                if manifest is None:
                    raise CommandError(f"repository {repo.name} has no successful snapshot")
            else:
                manifest = repo.manifest(o["snapshot"])
            conn = connect(ClusterConfig(
                urls=o["target"], username=os.environ.get("ES_USERNAME", ""), password=os.environ.get("ES_PASSWORD", ""),
                api_key=os.environ.get("ES_API_KEY", ""), ca_bundle=os.environ.get("ES_CA_BUNDLE", ""),
                verify_tls=not o["insecure"],
            ))
            params = LoadParams(
                include=rules.patterns(o["indices"]) or ["*"], exclude=rules.patterns(o["exclude"]), conflict=o["conflict"], workers=o["parallelism"],
                on_index_failure=o["on_index_failure"],
                rename_pattern=o["rename"][0] if o["rename"] else "", rename_replacement=o["rename"][1] if o["rename"] else "",
                metadata_kinds=() if o["no_metadata"] else CLUSTER_KINDS,
            )
            self.stdout.write(f"restoring snapshot {manifest.id[:8]} of {manifest.time:%Y-%m-%d %H:%M} UTC into {conn.describe()}")
            result = load_snapshot(conn, manifest, lambda name: repo.read_stream(manifest, name), params)
        except (BackendError, RepositoryError, ClusterError, ValueError) as e:
            raise CommandError(str(e).splitlines()[0]) from None
        for target, entry in result.indices.items():
            line = f"  {target}: {entry.get('docs', 0)} docs, {entry.get('failed', 0)} failed"
            if entry.get("error"):
                line += f" — {entry['error']}"
            self.stdout.write(line)
        for warning in result.warnings:
            self.stdout.write(f"  warning: {warning}")
        if not result.ok:
            failed = [t for t, e in result.indices.items() if e.get("error") or e.get("failed")]
            raise CommandError(f"restore incomplete: {', '.join(failed) or 'metadata'} failed (see above)")
