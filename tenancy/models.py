"""Tenancy: a Team is a KubeStash namespace; Membership gives a user a role in it."""
from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models

if TYPE_CHECKING:
    from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

slug_validator = RegexValidator(
    r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$",
    "Use 1-63 lowercase letters, digits and '-', starting and ending with a letter or digit "
    "(a Kubernetes name, so the resource can be mirrored as is).",
)


class TeamQuerySet(models.QuerySet):
    def for_user(self, user: Any) -> TeamQuerySet:
        if not getattr(user, "is_authenticated", False):
            return self.none()
        if getattr(user, "is_superuser", False):
            return self
        return self.filter(memberships__user=user)


class Team(models.Model):
    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=100)
    slug = models.CharField(
        max_length=63, unique=True, validators=[slug_validator],
        help_text="The namespace of this team's resources in YAML and Kubernetes.",
    )
    created = models.DateTimeField(auto_now_add=True)
    # Notification targets (used by the orchestration on failure / recovery / staleness).
    webhook_url = models.URLField(blank=True, help_text="Slack-compatible webhook for failures and recoveries.")
    notify_emails = models.TextField(blank=True, help_text="E-mail addresses, one per line.")
    stale_after_hours = models.PositiveIntegerField(
        default=26, help_text="Alert when a schedule has not produced a successful snapshot for this many hours."
    )

    objects = TeamQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def role_of(self, user: Any) -> str | None:
        if not getattr(user, "is_authenticated", False):
            return None
        m = self.memberships.filter(user=user).first()
        return m.role if m else None


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        OPERATOR = "operator", "Operator"
        VIEWER = "viewer", "Viewer"

    team = models.ForeignKey(Team, models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.VIEWER)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["team", "user"], name="one_membership_per_team")]
        ordering = ["team__name", "user__username"]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def can_write(self) -> bool:
        return self.role in (self.Role.OWNER, self.Role.OPERATOR)


WRITE_ROLES = (Membership.Role.OWNER, Membership.Role.OPERATOR)


class TeamOwnedQuerySet(models.QuerySet):
    """The one place that decides what a user may see or change.

    Every view, admin page and API goes through `for_user()` (read) or
    `writable_by()` (create, change, run, delete)."""

    def for_user(self, user: AbstractBaseUser | AnonymousUser, team: Team | None = None) -> TeamOwnedQuerySet:
        return self._scoped(user, team, roles=None)

    def writable_by(self, user: AbstractBaseUser | AnonymousUser, team: Team | None = None) -> TeamOwnedQuerySet:
        return self._scoped(user, team, roles=WRITE_ROLES)

    def _scoped(self, user: AbstractBaseUser | AnonymousUser, team: Team | None, roles: tuple[str, ...] | None) -> TeamOwnedQuerySet:
        qs = self.filter(team=team) if team is not None else self
        if not getattr(user, "is_authenticated", False):
            return qs.none()
        if getattr(user, "is_superuser", False):
            return qs
        if roles is None:
            return qs.filter(team__memberships__user=user)
        # One filter() call: the user and the role must match on the same membership.
        return qs.filter(team__memberships__user=user, team__memberships__role__in=roles)


class TeamOwned(models.Model):
    """Abstract base of every model a team owns."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    team = models.ForeignKey(Team, models.CASCADE, related_name="+")
    created = models.DateTimeField(auto_now_add=True)

    objects = TeamOwnedQuerySet.as_manager()

    class Meta:
        abstract = True

