"""Team roles from an OpenID Connect groups claim: `PREFIX<team-slug>:<role>`, e.g.
`stashboard:team-a:operator` with the default prefix `stashboard:`."""
from __future__ import annotations

from typing import Any

from tenancy.models import Membership

STRENGTH: dict[str, int] = {Membership.Role.VIEWER: 1, Membership.Role.OPERATOR: 2, Membership.Role.OWNER: 3}


def team_roles(claim: Any, prefix: str) -> tuple[dict[str, tuple[str, str]], list[str]]:
    """{team slug: (role, group)} from a claim (a list, or one string), the strongest
    role when a team is named twice; and the groups with the prefix that mean nothing
    (an unknown role or no team), to say so in the log."""
    groups = [claim] if isinstance(claim, str) else list(claim or [])
    roles: dict[str, tuple[str, str]] = {}
    ignored: list[str] = []
    for group in groups:
        if not isinstance(group, str) or not group.startswith(prefix):
            continue  # another application's group
        slug, sep, role = group[len(prefix):].rpartition(":")
        if not sep or not slug or role not in STRENGTH:
            ignored.append(group)
            continue
        if slug not in roles or STRENGTH[role] > STRENGTH[roles[slug][0]]:
            roles[slug] = (role, group)
    return roles, ignored
