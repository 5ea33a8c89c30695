"""Single sign-on: which provider account a user is, and which memberships the
provider's claim made (only those are changed or removed by later sign-ins)."""
from __future__ import annotations

from django.conf import settings
from django.db import models

from tenancy.models import Membership


class Identity(models.Model):
    """A user signed in through OpenID Connect: matched by (issuer, subject), never by
    e-mail or username, which a provider may let people change."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, models.CASCADE, related_name="sso_identity")
    issuer = models.CharField(max_length=300)
    subject = models.CharField(max_length=255)
    created = models.DateTimeField(auto_now_add=True)
    last_login = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["issuer", "subject"], name="one_user_per_sso_subject")]
        verbose_name_plural = "identities"

    def __str__(self) -> str:
        return f"{self.user} ({self.subject} at {self.issuer})"


class ClaimedMembership(models.Model):
    """Marks a membership the groups claim made or last set: the claim manages it."""

    membership = models.OneToOneField(Membership, models.CASCADE, related_name="sso_claim")
    group = models.CharField(max_length=300, help_text="the claim's group that gave it")
    updated = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.membership} from {self.group}"
