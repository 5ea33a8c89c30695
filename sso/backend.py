"""Sign-in with OpenID Connect (mozilla-django-oidc's backend), with team roles from
the groups claim, set again at every sign-in.

- A user is the provider's (issuer, subject): the first sign-in makes the account
  (username from OIDC_USERNAME_CLAIM, made unique), later ones find it by subject.
- For each team the claim names (OIDC_GROUP_PREFIX + slug + ":" + role) the member
  gets that role, and the membership becomes claim-managed. A claim-managed
  membership whose team the claim no longer names is removed. Memberships an owner
  gave by hand in a team the claim does not name are left alone.
- With OIDC_REQUIRE_TEAM (the default) a sign-in whose claim names no existing team
  is refused. Every change and refusal goes to the audit log."""
from __future__ import annotations

import hashlib
import logging
import re
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from audit.log import Actor, member_added, member_removed, member_role_changed
from sso.claims import team_roles
from sso.models import ClaimedMembership, Identity
from tenancy.models import Membership, Team

log = logging.getLogger(__name__)


def issuer() -> str:
    """OIDC_OP_ISSUER, or the origin of the authorization endpoint."""
    if settings.OIDC_OP_ISSUER:
        return settings.OIDC_OP_ISSUER.rstrip("/")
    scheme, _, rest = settings.OIDC_OP_AUTHORIZATION_ENDPOINT.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


class Refused(SuspiciousOperation):
    """A sign-in the claims do not allow; the message says why (for the audit log)."""


class StashboardOIDCBackend(OIDCAuthenticationBackend):
    def _refuse(self, claims: dict[str, Any], reason: str) -> None:
        # The callback view records the failure: it has no way to the backend but the request.
        self.request.sso_refusal = (self._username(claims), reason)  # type: ignore[attr-defined]
        raise Refused(reason)

    def verify_claims(self, claims: dict[str, Any]) -> bool:
        if not claims.get("sub"):
            self._refuse(claims, "the provider sent no subject (sub claim)")
        roles, ignored = team_roles(claims.get(settings.OIDC_GROUPS_CLAIM), settings.OIDC_GROUP_PREFIX)
        known = set(Team.objects.filter(slug__in=roles).values_list("slug", flat=True))
        self.roles = {slug: v for slug, v in roles.items() if slug in known}
        unknown = sorted(set(roles) - known)
        if ignored or unknown:
            log.warning("sso: %s: ignored groups %s, no such team %s", claims.get("sub"), ignored, unknown)
        if settings.OIDC_REQUIRE_TEAM and not self.roles:
            self._refuse(claims, f"the '{settings.OIDC_GROUPS_CLAIM}' claim names no Stashboard team: the provider must send "
                                 f"a group like {settings.OIDC_GROUP_PREFIX}TEAM:ROLE (ROLE owner, operator or viewer) "
                                 f"for an existing team" + (f"; it sent {', '.join(ignored + unknown)}" if ignored or unknown else ""))
        return True

    def filter_users_by_claims(self, claims: dict[str, Any]) -> QuerySet[User]:
        return User.objects.filter(sso_identity__issuer=issuer(), sso_identity__subject=claims["sub"])

    def _username(self, claims: dict[str, Any]) -> str:
        wanted = str(claims.get(settings.OIDC_USERNAME_CLAIM) or claims.get("email") or claims.get("sub") or "")
        return re.sub(r"[^\w.@+-]", "-", wanted)[:140]

    def create_user(self, claims: dict[str, Any]) -> User:
        username = self._username(claims) or "sso-user"
        if User.objects.filter(username=username).exists():
            # A local account of that name is not taken over: the SSO account gets a suffix.
            username = f"{username}-{hashlib.sha256(claims['sub'].encode()).hexdigest()[:6]}"
        with transaction.atomic():
            user = User.objects.create_user(username, email=claims.get("email") or "")
            user.set_unusable_password()
            user.save(update_fields=["password"])
            Identity.objects.create(user=user, issuer=issuer(), subject=claims["sub"], last_login=timezone.now())
            self._sync(user)
        return user

    def update_user(self, user: User, claims: dict[str, Any]) -> User:
        with transaction.atomic():
            email = claims.get("email") or ""
            if email and email != user.email:
                user.email = email
                user.save(update_fields=["email"])
            Identity.objects.filter(user=user).update(last_login=timezone.now())
            self._sync(user)
        return user

    def _sync(self, user: User) -> None:
        actor = Actor.from_request(self.request, label=user.get_username(), via="sso")
        actor = Actor(actor.label, actor.via, user.pk, actor.ip, actor.user_agent)
        sync_memberships(user, self.roles, actor)


def sync_memberships(user: User, roles: dict[str, tuple[str, str]], actor: Actor) -> None:
    """Make the user's memberships match `roles` ({slug: (role, group)}), touching only
    teams the claim names and memberships the claim made before (see the module)."""
    current = {m.team.slug: m for m in Membership.objects.filter(user=user).select_related("team", "user")}
    claimed = set(ClaimedMembership.objects.filter(membership__user=user).values_list("membership_id", flat=True))
    teams = {t.slug: t for t in Team.objects.filter(slug__in=roles)}
    for slug, (role, group) in roles.items():
        m = current.get(slug)
        if m is None:
            m = Membership.objects.create(team=teams[slug], user=user, role=role)
            member_added(actor, m)
        elif m.role != role:
            old, m.role = m.role, role
            m.save(update_fields=["role"])
            member_role_changed(actor, m, old)
        ClaimedMembership.objects.update_or_create(membership=m, defaults={"group": group})
    for slug, m in current.items():
        if slug not in roles and m.pk in claimed:
            member_removed(actor, m)
            m.delete()
