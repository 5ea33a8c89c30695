"""The audit log: one append-only row per change or action, never a secret value.

Rows outlive what they name: the team and the user are kept as labels beside
constraint-free foreign keys, so deleting a team or a user neither deletes its
entries (an UPDATE or DELETE would be refused anyway) nor is blocked by them."""
from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenancy.models import Membership, Team


class AppendOnlyError(RuntimeError):
    """The audit log is append-only: entries are never changed or deleted (the
    retention purge, audit.retention.purge(), is the one explicit exception)."""


class Action(models.TextChoices):
    CREATED = "created", "created"
    CHANGED = "changed", "changed"
    DELETED = "deleted", "deleted"
    BACKUP_NOW = "backup-now", "backup now"
    BACKUP_CANCELLED = "backup-cancelled", "backup cancelled"
    RESTORE_STARTED = "restore-started", "restore started"
    RESTORE_CANCELLED = "restore-cancelled", "restore cancelled"
    REPOSITORY_CHECK = "repository-check", "repository check"
    STORAGE_INITIALIZE = "storage-initialize", "storage check"
    CLUSTER_TEST = "cluster-test", "cluster connection test"
    VERIFY_NOW = "verify-now", "verified restore started"
    KEY_ADDED = "repository-key-added", "repository key added"
    KEY_REMOVED = "repository-key-removed", "repository key removed"
    PASSWORD_CHANGED = "repository-password-changed", "repository password changed"
    MEMBER_ADDED = "member-added", "member added"
    MEMBER_ROLE_CHANGED = "member-role-changed", "member role changed"
    MEMBER_REMOVED = "member-removed", "member removed"
    LOGIN = "login", "signed in"
    LOGIN_FAILED = "login-failed", "sign-in failed"
    LOGOUT = "logout", "signed out"
    TOKEN_CREATED = "token-created", "API token made"
    TOKEN_REVOKED = "token-revoked", "API token revoked"
    PURGED = "purged", "old entries purged"


class EntryQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("audit entries cannot be changed")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries cannot be deleted: old ones go by AUDIT_RETENTION_DAYS (manage.py audit_purge)")

    def for_user(self, user: Any, team: Team | None = None) -> EntryQuerySet:
        """Superusers read every entry (with `team`, that team's); an owner reads the
        entries of a team they own; nobody else reads any."""
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if getattr(user, "is_superuser", False):
            return self.filter(team=team) if team is not None else self
        owned = Membership.objects.filter(user=user, role=Membership.Role.OWNER).values("team_id")
        qs = self.filter(team_id__in=owned)
        return qs.filter(team=team) if team is not None else qs


class Entry(models.Model):
    time = models.DateTimeField(default=timezone.now, db_index=True)
    # Constraint-free keys (see the module docstring); *_label keeps the name of the moment.
    team = models.ForeignKey(Team, models.DO_NOTHING, db_constraint=False, null=True, blank=True, related_name="+")
    team_label = models.CharField(max_length=63, blank=True)
    actor_user = models.ForeignKey(settings.AUTH_USER_MODEL, models.DO_NOTHING, db_constraint=False, null=True,
                                   blank=True, related_name="+")
    actor = models.CharField(max_length=200, help_text="who: a username, or the command and OS user")
    via = models.CharField(max_length=20, help_text="dashboard, admin, api, command, sso, scheduler")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    action = models.CharField(max_length=30, choices=Action.choices)
    target_kind = models.CharField(max_length=40, blank=True)
    target_name = models.CharField(max_length=200, blank=True)
    target_uuid = models.UUIDField(null=True, blank=True)
    # The names of the changed fields, never their values.
    fields = models.JSONField(default=list, blank=True)
    # What the action was about (a restore's target and indices, a role); never a secret.
    details = models.JSONField(default=dict, blank=True)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["-time", "-pk"]
        verbose_name_plural = "entries"
        indexes = [models.Index(fields=["team", "-time"], name="audit_entry_team_time")]

    def __str__(self) -> str:
        what = f" {self.target_kind} {self.target_name}".rstrip()
        return f"{self.time:%Y-%m-%d %H:%M:%S} {self.actor} {self.action}{what}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("audit entries cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("audit entries cannot be deleted: old ones go by AUDIT_RETENTION_DAYS (manage.py audit_purge)")

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.pk, "time": self.time.isoformat(), "team": self.team_label or None, "actor": self.actor,
            "via": self.via, "ip": self.ip, "user_agent": self.user_agent, "action": self.action,
            "target": {"kind": self.target_kind, "name": self.target_name,
                       "uuid": str(self.target_uuid) if self.target_uuid else None} if self.target_kind else None,
            "fields": self.fields, "details": self.details,
        }
