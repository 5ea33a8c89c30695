"""Work on a repository with nothing but its location and password (no database).

    python manage.py repo --url URL --password-file FILE VERB [...]

URL: file:///path, s3://bucket/prefix?endpoint=…, gs://bucket/prefix, azure://container/prefix
(credentials from each SDK's standard environment variables). Works with an empty or
missing database, for disaster recovery. Exit status 0 on success, 1 with a one-line
reason on standard error otherwise.
"""
from __future__ import annotations

import json
import sys
from argparse import ArgumentParser
from pathlib import Path
from typing import Any, BinaryIO

from django.core.management.base import BaseCommand, CommandError


def _one_line(e: BaseException) -> str:
    return " ".join(str(e).split()) or type(e).__name__


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n} B"


class Command(BaseCommand):
    help = "Operate on a Stashboard repository with only its URL and password."
    # No system checks and no model use: this must work when the database is empty or gone.
    requires_system_checks: list[str] = []  # noqa: RUF012 - Django declares it so
    requires_migrations_checks = False
    stealth_options = ("stdin_binary", "stdout_binary")

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("--url", required=True, help="repository location")
        parser.add_argument("--password-file", required=True,
                            help="file whose first line is the repository password")
        parser.add_argument("--name", default="", help="repository name used in messages")
        sub = parser.add_subparsers(dest="verb", required=True, metavar="VERB")
        p = sub.add_parser("init", help="create the repository")
        p.add_argument("--kdf", choices=["argon2id", "scrypt"], default="argon2id")
        p.add_argument("--format-version", type=int, choices=[1, 2], default=2,
                       help="2 (packs and an index, the default) or 1 (one object per chunk)")
        p = sub.add_parser("backup", help="store standard input as one stream")
        p.add_argument("stream")
        p.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE")
        sub.add_parser("snapshots", help="list snapshots").add_argument("--json",
                                                                         action="store_true")
        p = sub.add_parser("ls", help="list a snapshot's streams")
        p.add_argument("snapshot")
        p.add_argument("--json", action="store_true")
        p = sub.add_parser("cat", help="write a stream to standard output")
        p.add_argument("snapshot")
        p.add_argument("stream")
        p = sub.add_parser("check", help="verify manifests and chunks")
        p.add_argument("--read-data", action="store_true", help="fetch and verify every chunk")
        p.add_argument("--read-data-subset", metavar="N/T", default="",
                       help="fetch and verify bucket N of T of the chunks (run 1/T … T/T to read them all)")
        p = sub.add_parser("forget", help="remove snapshots by retention rules")
        for rule in ("last", "hourly", "daily", "weekly", "monthly", "yearly"):
            p.add_argument(f"--keep-{rule}", type=int, default=None)
        p.add_argument("--keep-failed", type=int, default=None,
                       help="failed snapshots to keep (failedSnapshots.last)")
        p.add_argument("--max-retention-period", default=None, help="e.g. 30d, 2w, 6mo, 1y")
        p.add_argument("--dry-run", action="store_true")
        p.add_argument("--prune", action="store_true", help="prune afterwards")
        p = sub.add_parser("prune", help="delete chunks no snapshot references")
        p.add_argument("--dry-run", action="store_true")
        sub.add_parser("migrate", help="upgrade a format 1 repository to format 2 in place")
        p = sub.add_parser("key", help="list, add or remove passwords (key files)")
        keys = p.add_subparsers(dest="key_verb", required=True, metavar="KEY_VERB")
        keys.add_parser("list", help="list the key files").add_argument("--json", action="store_true")
        for verb, text in (("add", "add a key for another password"),
                           ("passwd", "replace this password's key with one for a new password")):
            keys.add_parser(verb, help=text).add_argument(
                "--new-password-file", required=True, help="file whose first line is the new password")
        keys.add_parser("remove", help="remove a key file: its password stops opening the "
                                       "repository").add_argument("key_id")
        p = sub.add_parser("unlock", help="remove stale locks")
        p.add_argument("--remove-all", action="store_true", help="remove live locks too")

    def handle(self, *args: Any, **options: Any) -> None:
        from storage.backends import BackendError

        try:
            self._handle(options)
        except CommandError:
            raise
        except (BackendError, OSError, ValueError) as e:
            raise CommandError(_one_line(e)) from e
        except Exception as e:
            from storage.repo import RepositoryError

            if isinstance(e, RepositoryError):
                raise CommandError(_one_line(e)) from e
            raise

    def _password(self, path: str) -> str:
        try:
            text = Path(path).read_text()
        except OSError as e:
            raise CommandError(f"cannot read password file {path}: {e.strerror}") from e
        password = text.splitlines()[0] if text else ""
        if not password:
            raise CommandError(f"password file {path} is empty")
        return password

    def _handle(self, o: dict[str, Any]) -> None:
        from storage.backends import backend_from_url
        from storage.repo import Repository

        password = self._password(o["password_file"])
        backend = backend_from_url(o["url"])
        name = o["name"] or o["url"].split("?", 1)[0]
        verb = o["verb"]
        if verb == "init":
            repo = Repository.init(backend, password, name, kdf=o["kdf"], version=o["format_version"])
            self.stdout.write(f"created repository {repo.id} (format {repo.version}) at {backend.describe()}")
            return
        repo = Repository.open(backend, password, name)
        getattr(self, f"_{verb}")(repo, o)

    def _backup(self, repo: Any, o: dict[str, Any]) -> None:
        meta: dict[str, Any] = {"status": "Succeeded", "source": "stdin"}
        for item in o["meta"]:
            key, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--meta {item!r}: use KEY=VALUE")
            meta[key] = value
        stdin: BinaryIO = o.get("stdin_binary") or sys.stdin.buffer
        with repo.writer() as w:
            info = w.add_stream(o["stream"], stdin)
            snapshot_id = w.commit(meta=meta)
        self.stdout.write(f"snapshot {snapshot_id[:8]} saved: {o['stream']} {_size(info.size)}, "
                          f"{info.chunks_new} new of {info.chunks} chunks "
                          f"({_size(info.stored_bytes_new)} stored)")

    def _snapshots(self, repo: Any, o: dict[str, Any]) -> None:
        snaps = repo.snapshots()
        if o["json"]:
            self.stdout.write(json.dumps([{"id": m.id, "time": m.time.isoformat(),
                                           "status": m.status, "meta": m.meta,
                                           "streams": len(m.streams), "size": m.size}
                                          for m in snaps], indent=1))
            return
        self.stdout.write(f"{'ID':<10}{'TIME':<27}{'STATUS':<11}{'STREAMS':>8}{'SIZE':>12}")
        for m in snaps:
            self.stdout.write(f"{m.short_id:<10}{m.time.strftime('%Y-%m-%d %H:%M:%S %Z'):<27}"
                              f"{m.status:<11}{len(m.streams):>8}{_size(m.size):>12}")
        for c in repo.checkpoints():
            # not snapshots: what an interrupted backup stored, for its next run to resume from
            self.stdout.write(f"checkpoint {c.short_id} of an uncommitted backup ({c.key}), updated "
                              f"{c.updated:%Y-%m-%d %H:%M:%S %Z}: {len(c.streams)} streams complete, "
                              f"{len(c.partial)} partial; not a snapshot")

    def _ls(self, repo: Any, o: dict[str, Any]) -> None:
        m = repo.manifest(o["snapshot"])
        if o["json"]:
            self.stdout.write(json.dumps({n: {"size": s.size, "sha256": s.sha256,
                                              "chunks": len(s.chunks), "meta": s.meta}
                                          for n, s in m.streams.items()}, indent=1))
            return
        for s in m.streams.values():
            self.stdout.write(f"{s.name}\t{s.size}\t{len(s.chunks)} chunks\tsha256:{s.sha256}")

    def _cat(self, repo: Any, o: dict[str, Any]) -> None:
        out: BinaryIO = o.get("stdout_binary") or sys.stdout.buffer
        out.writelines(repo.read_stream(o["snapshot"], o["stream"]))
        out.flush()

    def _check(self, repo: Any, o: dict[str, Any]) -> None:
        from storage.repo.check import parse_subset

        try:
            subset = parse_subset(o["read_data_subset"]) if o["read_data_subset"] else None
        except ValueError as e:
            raise CommandError(str(e)) from None
        result = repo.check(read_data=o["read_data"], read_data_subset=subset)
        for problem in result.problems:
            self.stderr.write(problem)
        summary = (f"{result.snapshots} snapshots, {result.checkpoints} checkpoints, "
                   f"{result.chunks_referenced} chunks referenced, {result.chunks_unreferenced} unreferenced")
        if result.chunks_read:
            summary += f", {result.chunks_read} read" + (f" (subset {result.read_data_subset})"
                                                         if result.read_data_subset else "")
        if not result.ok:
            raise CommandError(f"check found {len(result.problems)} problems ({summary})")
        self.stdout.write(f"no problems found ({summary})")

    def _forget(self, repo: Any, o: dict[str, Any]) -> None:
        from storage.repo import RetentionRules

        rules = RetentionRules(last=o["keep_last"], hourly=o["keep_hourly"],
                               daily=o["keep_daily"], weekly=o["keep_weekly"],
                               monthly=o["keep_monthly"], yearly=o["keep_yearly"],
                               failed_last=o["keep_failed"],
                               max_retention_period=o["max_retention_period"])
        result = repo.forget(rules, dry_run=o["dry_run"])
        verb = "would remove" if o["dry_run"] else "removed"
        for m in result.keep:
            self.stdout.write(f"keep   {m.short_id} {m.time:%Y-%m-%d %H:%M} {m.status:<9} "
                              f"({', '.join(result.reasons[m.id])})")
        for m in result.remove:
            self.stdout.write(f"remove {m.short_id} {m.time:%Y-%m-%d %H:%M} {m.status:<9} "
                              f"({', '.join(result.reasons[m.id]) or 'no rule keeps it'})")
        self.stdout.write(f"{verb} {len(result.remove)} snapshots, kept {len(result.keep)}")
        if o["prune"] and not o["dry_run"]:
            self._prune(repo, {"dry_run": False})

    def _prune(self, repo: Any, o: dict[str, Any]) -> None:
        r = repo.prune(dry_run=o["dry_run"])
        verb = "would delete" if o["dry_run"] else "deleted"
        self.stdout.write(f"{verb} {r.chunks_deleted} unreferenced chunks; {r.chunks_kept} "
                          f"chunks referenced by {r.snapshots} snapshots and {r.checkpoints} checkpoints"
                          + (f"; {r.stale_checkpoints_removed} stale checkpoints deleted"
                             if r.stale_checkpoints_removed else ""))

    def _migrate(self, repo: Any, o: dict[str, Any]) -> None:
        r = repo.migrate()
        if r.from_version == r.to_version:
            self.stdout.write(f"repository is already format {r.to_version}"
                              + (f"; deleted {r.chunks} chunk objects left by an earlier migrate" if r.chunks else ""))
            return
        self.stdout.write(f"migrated {r.chunks} chunks into {r.packs} packs: format {r.from_version} -> {r.to_version}")

    def _unlock(self, repo: Any, o: dict[str, Any]) -> None:
        removed = repo.unlock(remove_all=o["remove_all"])
        for lock in removed:
            self.stdout.write(f"removed {lock.describe()}")
        self.stdout.write(f"removed {len(removed)} locks")

    def _key(self, repo: Any, o: dict[str, Any]) -> None:
        from storage.repo import keys

        verb = o["key_verb"]
        if verb == "list":
            found = keys.list_keys(repo)
            if o["json"]:
                self.stdout.write(json.dumps([vars(k) for k in found], indent=1))
                return
            self.stdout.write(f"{'':2}{'ID':<34}{'CREATED':<22}{'HOST':<20}KDF")
            for k in found:
                self.stdout.write(f"{'*' if k.current else ' ':2}{k.id:<34}{k.created:<22}{k.host:<20}{k.kdf}")
        elif verb == "add":
            key_id = keys.add_key(repo, self._password(o["new_password_file"]))
            self.stdout.write(f"added key {key_id}")
        elif verb == "passwd":
            old = repo.key_id
            key_id = keys.change_password(repo, self._password(o["new_password_file"]))
            self.stdout.write(f"replaced key {old} by {key_id}: the old password no longer opens it")
        else:
            self.stdout.write(f"removed key {keys.remove_key(repo, o['key_id'])}")
