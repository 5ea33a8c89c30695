"""Team-scoped API tokens (healthchecks' per-project API keys): shown once when made,
stored as a SHA-256 hash, recognized by their first characters (the prefix)."""
from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone

from tenancy.models import TeamOwned, TeamOwnedQuerySet

TOKEN_PREFIX = "sbk_"
PREFIX_LENGTH = len(TOKEN_PREFIX) + 8
# last_used is written at most this often, so a busy script does not write on every call.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def hash_token(token: str) -> str:
    # The tokens are 240 random bits: a plain hash is enough (no salt, no slow KDF),
    # and it lets the lookup be an index search.
    return hashlib.sha256(token.encode()).hexdigest()


class ApiTokenQuerySet(TeamOwnedQuerySet):
    def authenticate(self, token: str) -> ApiToken | None:
        if not token.startswith(TOKEN_PREFIX):
            return None
        found = self.select_related("team").filter(key_hash=hash_token(token)).first()
        if found is not None:
            found.touch()
        return found


class ApiToken(TeamOwned):
    class Scope(models.TextChoices):
        READ = "read", "Read-only"
        WRITE = "write", "Read-write"

    name = models.CharField(max_length=100, help_text="What uses it, e.g. 'deploy pipeline'.")
    scope = models.CharField(max_length=5, choices=Scope.choices, default=Scope.READ)
    prefix = models.CharField(max_length=PREFIX_LENGTH, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, models.SET_NULL, null=True, blank=True, related_name="+")
    last_used = models.DateTimeField(null=True, blank=True, editable=False)

    objects = ApiTokenQuerySet.as_manager()  # type: ignore[misc]  # a subclass of the base queryset

    class Meta:
        ordering = ["team__name", "name"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @classmethod
    def issue(cls, team: object, name: str, scope: str, user: object) -> tuple[ApiToken, str]:
        """A new token row and the token itself, which is never stored and never shown again."""
        token = TOKEN_PREFIX + secrets.token_urlsafe(30)
        row = cls.objects.create(team=team, name=name, scope=scope, prefix=token[:PREFIX_LENGTH],
                                 key_hash=hash_token(token), created_by=user)
        return row, token

    @property
    def can_write(self) -> bool:
        return self.scope == self.Scope.WRITE

    def touch(self) -> None:
        now = timezone.now()
        if self.last_used is None or now - self.last_used > LAST_USED_RESOLUTION:
            ApiToken.objects.filter(pk=self.pk).update(last_used=now)
            self.last_used = now
